"""The application factory."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from portal import config as portal_config


class DatabaseIdConverter(IntegerConverter):
    """`int` URL parts limited to the range of database ids."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(config: dict | None = None) -> Flask:
    """Build the portal: layered configuration, extensions, blueprints and commands.

    Nothing touches the database here; `flask --app app db upgrade` migrates.
    """
    app = Flask(
        __name__,
        instance_path=portal_config.instance_path_from_env(),
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="../static",
    )
    # Every <int:...> in a URL is a database id: larger than a 32-bit key, it cannot exist
    # (and PostgreSQL would refuse to compare it), so such URLs simply do not match: 404.
    app.url_map.converters["int"] = DatabaseIdConverter
    portal_config.load(app, config)
    if app.config.get("TRUSTED_PROXIES"):
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    _init_extensions(app)
    _register_blueprints(app)
    _register_commands(app)
    return app


def _init_extensions(app: Flask) -> None:
    from portal import errors, headers, logs, templating
    from portal.extensions import bootstrap, csrf, db, limiter, login_manager, oauth
    from portal.sessions import DatabaseSessionInterface

    logs.init_app(app)
    db.init_app(app)
    app.session_interface = DatabaseSessionInterface()
    csrf.init_app(app)
    oauth.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    limiter.init_app(app)
    bootstrap.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please sign in to see this page."
    login_manager.login_message_category = "info"
    headers.init_app(app)
    errors.init_app(app)
    templating.init_app(app)
    from portal.notifications import delivery

    delivery.init_app(app)

    from accounts.context import load_tenant_context

    app.before_request(load_tenant_context)


def _register_blueprints(app: Flask) -> None:
    from accounts.admin_views import bp as admin_bp
    from accounts.apikeys_views import bp as apikeys_bp
    from accounts.audit_views import bp as audit_bp
    from accounts.dashboard import bp as dashboard_bp
    from accounts.delegation_views import bp as delegations_bp
    from accounts.estate.views import bp as estate_bp
    from accounts.legacy.views import bp as legacy_bp
    from accounts.members_views import bp as members_bp
    from accounts.operator_views import bp as operator_bp
    from accounts.views import bp as accounts_bp
    from portal.api import register as register_api
    from portal.billing.views import bp as bills_bp
    from portal.catalog.views import bp as catalog_bp
    from portal.health import bp as health_bp
    from portal.notifications.views import bp as notifications_bp
    from portal.orders.change_views import bp as changes_bp
    from portal.orders.operator_views import bp as order_operations_bp
    from portal.orders.views import bp as orders_bp
    from portal.orders.webhook import bp as order_hooks_bp
    from portal.usage.views import bp as usage_bp
    from quotes.approval_views import bp as approvals_bp
    from quotes.pdf_views import bp as quote_pdf_bp
    from quotes.quote_views import bp as quotes_bp
    from quotes.views import bp as configurator_bp

    for blueprint in (health_bp, accounts_bp, dashboard_bp, admin_bp, members_bp, audit_bp,
                      operator_bp, delegations_bp, estate_bp, apikeys_bp, legacy_bp,
                      catalog_bp, configurator_bp, quote_pdf_bp, quotes_bp, order_hooks_bp,
                      notifications_bp, approvals_bp, orders_bp, changes_bp,
                      order_operations_bp, bills_bp, usage_bp):
        app.register_blueprint(blueprint)
    register_api(app)
    if app.config["DEV_IDP"]:
        from portal.devidp import bp as devidp_bp

        app.register_blueprint(devidp_bp)


def _register_commands(app: Flask) -> None:
    from accounts.apikeys_cli import register as register_apikeys
    from accounts.cli import register as register_accounts
    from portal.cli import register as register_portal

    register_portal(app)
    from portal.notifications.cli import register as register_notifications

    register_notifications(app)
    register_accounts(app)
    register_apikeys(app)
    from accounts.legacy.cli import register as register_legacy

    register_legacy(app)
    from portal.catalog.cli import register as register_catalog

    register_catalog(app)
    from portal.orders.cli import register as register_orders

    register_orders(app)
    from portal.billing.cli import register as register_bills

    register_bills(app)
    from portal.usage.cli import register as register_usage

    register_usage(app)
