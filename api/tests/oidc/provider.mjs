// A real OpenID Connect provider for the SSO tests: the npm package
// `oidc-provider` (installed into var/node by .ci/run), on 127.0.0.1.
//
//   node provider.mjs <config.json>
//
// config.json: {"port": 0, "client_id": "...", "client_secret": "...",
//               "redirect_uris": ["http://127.0.0.1:8000/oidc/callback/"],
//               "accounts": {"erin": {"email": "...", "name": "...", "groups": [...]}}}
// Port 0 picks a free port. Once listening it prints one JSON line to stdout,
// {"issuer": "http://127.0.0.1:<port>"}, which the test waits for.
// Sign-in uses the package's development interactions: any password for a
// login named in `accounts`; the consent screen is one "Continue" button.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import path from "node:path";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
// Resolved from var/node (NODE_PATH does not apply to ES modules).
const require = createRequire(path.join(config.node_modules, "noop.js"));
const { default: Provider } = await import(require.resolve("oidc-provider"));

const server = createServer();
await new Promise((resolve) => server.listen(config.port || 0, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: config.client_id,
      client_secret: config.client_secret,
      redirect_uris: config.redirect_uris,
      response_types: ["code"],
      grant_types: ["authorization_code"],
      token_endpoint_auth_method: "client_secret_post",
    },
  ],
  // Every client must send a PKCE challenge (S256), not only public ones.
  pkce: { required: () => true },
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "given_name", "family_name", "preferred_username"],
    groups: ["groups"],
  },
  // The claims go into the ID token too, as Entra ID sends its `groups` claim.
  conformIdTokenClaims: false,
  cookies: { keys: ["resolutionflow-test-provider-cookie-key"] },
  // Set, so the package prints no notices (stdout carries only the issuer line).
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    Grant: 3600,
    IdToken: 600,
    Interaction: 600,
    Session: 3600,
  },
  async findAccount(ctx, id) {
    const account = config.accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        const [given, ...family] = (account.name || "").split(" ");
        return {
          sub: id,
          email: account.email,
          email_verified: true,
          name: account.name,
          given_name: given,
          family_name: family.join(" "),
          preferred_username: id,
          groups: account.groups || [],
        };
      },
    };
  },
});
provider.proxy = false;

server.on("request", provider.callback());
process.stdout.write(JSON.stringify({ issuer }) + "\n");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
