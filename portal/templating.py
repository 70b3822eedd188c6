"""What every template can use: permissions, the organisation acted for, the role names."""

from flask import Flask, g

from portal.security import Permission, can


def role_label(role: str) -> str:
    """`account_manager` -> `Account manager`."""
    return role.replace("_", " ").capitalize()


def init_app(app: Flask) -> None:
    """Register globals and filters."""
    app.jinja_env.globals.update(can=can, Permission=Permission)
    app.jinja_env.filters["role_label"] = role_label

    @app.context_processor
    def tenant():
        return {
            "current_org": g.get("current_org"),
            "current_roles": g.get("current_roles", ()),
            "user_orgs": g.get("user_orgs", []),
        }
