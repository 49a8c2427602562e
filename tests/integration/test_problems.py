"""The catch-all for unexpected errors, in process: what reaches the client and what reaches the
log when a route fails in a way no handler knows (over real HTTP: tests/e2e/test_contract.py)."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import StatementError

from kanim.store.db import make_engine
from kanim.http import problems

NIK = "3171014508900001"


def _app() -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.get("/boom")
    def boom(nik: str, name: str) -> None:
        raise ValueError(f"could not parse NIK {nik} for {name}")  # as a library quotes what it chokes on

    return app


def test_an_unexpected_error_is_a_problem_and_its_message_never_reaches_the_log(caplog) -> None:  # noqa: ANN001
    with caplog.at_level(logging.ERROR, logger="kanim.web"), TestClient(_app(), raise_server_exceptions=False) as c:
        r = c.get("/boom", params={"nik": NIK, "name": "Siti Rahmawati"})
    assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "internal-error" and body["error_id"] in caplog.text
    assert "builtins.ValueError" in caplog.text and "GET /boom" in caplog.text
    assert NIK not in caplog.text and "Rahmawati" not in caplog.text


def test_sql_errors_do_not_quote_their_parameters(tmp_path) -> None:  # noqa: ANN001
    """kanim's engines hide a failed statement's parameters; a plain engine would print them."""
    for engine, shown in ((create_engine(f"sqlite:///{tmp_path}/plain.db"), True),
                          (make_engine(f"sqlite:///{tmp_path}/kanim.db"), False)):
        with engine.connect() as conn:
            try:
                conn.execute(text("SELECT * FROM no_such_table WHERE nik = :nik"), {"nik": NIK})
            except StatementError as e:
                assert (NIK in str(e)) is shown
        engine.dispose()
