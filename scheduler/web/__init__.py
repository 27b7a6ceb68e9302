"""HTML pages (server-rendered Jinja, forms with CSRF) and the health check."""

from flask import Flask


def register_web(app: Flask) -> None:
    from flask_login import current_user

    from scheduler.web import (
        account,
        alerts,
        audit,
        auth,
        brand,
        calendar,
        clients,
        clinician,
        errors,
        find_time,
        form_fields,
        health,
        home,
        kiosk,
        kiosk_lock,
        language,
        mfa_pages,
        plan_pages,
        portal,
        program_pages,
        proposal_pages,
        query_args,
        recipient_pages,
        reports,
        room_pages,
        site_pages,
        staff_pages,
        users,
    )

    errors.install(app)
    # Before the two-step set-up gate, which then holds a kiosk that must enrol.
    kiosk_lock.install(app)

    @app.before_request
    def refuse_unusable_query_text():
        # Before any view reads a value: NUL reaching a PostgreSQL query is a 500.
        if errors._is_page():
            query_args.refuse_unusable_text()

    for module in (health, home, brand, auth, calendar, clients, plan_pages, reports, clinician,
                   portal, kiosk, audit, users, mfa_pages, account, find_time,
                   staff_pages, site_pages, room_pages, program_pages, proposal_pages,
                   alerts, recipient_pages, language):
        app.register_blueprint(module.bp)
    mfa_pages.install_gate(app)
    language.install(app)

    @app.context_processor
    def navigation():
        from scheduler.web.navigation import in_setup, links_for, setup_links_for

        setup = in_setup()
        return {"nav_links": links_for(current_user), "in_setup": setup,
                "setup_links": setup_links_for(current_user) if setup else []}

    # Every form's refused field is marked and tied to its error the same way.
    app.add_template_global(form_fields.invalid, "invalid")
    app.add_template_global(form_fields.field_error, "field_error")

    @app.context_processor
    def theme():
        return {"theme_color": brand.THEME_COLOR}
