# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: install run test serve lint format bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## Development server with demo data on http://127.0.0.1:$(PORT), and the ticket-loop
## worker beside it (bin/dev: one Ctrl-C stops both)
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python bin/dev $(PORT)

## The whole test suite (PostgreSQL and Chromium when available; required with CI=true)
test: install
	bin/test

## Production-like: gunicorn (resolutionflow/gunicorn.conf.py) + whitenoise with DEBUG off, on http://127.0.0.1:$(PORT)
serve: install
	mkdir -p var
	test -s var/serve-secret-key || $(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))' > var/serve-secret-key
	DEBUG=False SECRET_KEY="$$(cat var/serve-secret-key)" ALLOWED_HOSTS=127.0.0.1,localhost \
	  SECURE_SSL_REDIRECT=False SESSION_COOKIE_SECURE=False CSRF_COOKIE_SECURE=False \
	  sh -c '$(BIN)/python manage.py migrate --noinput && \
	         $(BIN)/python manage.py collectstatic --noinput -v0 && \
	         $(BIN)/gunicorn -c resolutionflow/gunicorn.conf.py resolutionflow.wsgi --bind 127.0.0.1:$(PORT) --workers 2 --access-logfile -'

## Style, formatting and the import layers (pyproject.toml [tool.importlinter])
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo --no-cache

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Benchmark with a year of a large MSP's data (PostgreSQL; see docs/PERFORMANCE.md)
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var/staticfiles
