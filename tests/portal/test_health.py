"""The health check and the basics every response carries."""


def test_healthz_answers_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_answers_503_when_the_database_is_gone(make_app, tmp_path):
    app = make_app()
    app.extensions["portal_db"].engine.dispose()
    # Point the app at a database file in a folder that does not exist.
    from sqlalchemy import create_engine

    db = app.extensions["portal_db"]
    original = db.engine
    db.engine = create_engine(f"sqlite:///{tmp_path}/missing/dir/db.sqlite")
    db._factory.configure(bind=db.engine)
    try:
        response = app.test_client().get("/healthz")
    finally:
        db.engine.dispose()
        db.engine = original
        db._factory.configure(bind=original)
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"


def test_every_response_has_a_request_id_and_security_headers(client):
    response = client.get("/login", headers={"X-Request-ID": "abcdef0123456789"})
    assert response.headers["X-Request-ID"] == "abcdef0123456789"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_request_id_with_odd_characters_is_replaced(client):
    response = client.get("/healthz", headers={"X-Request-ID": "bad id; <script>"})
    assert response.headers["X-Request-ID"] != "bad id; <script>"
    assert len(response.headers["X-Request-ID"]) == 32


def test_an_upload_over_the_size_limit_is_refused_before_it_is_read(make_app):
    app = make_app(MAX_CONTENT_LENGTH=1024)
    response = app.test_client().post("/login", data={"email": "x" * 5000})
    assert response.status_code == 413
    assert "larger than the portal accepts" in response.get_data(as_text=True)
