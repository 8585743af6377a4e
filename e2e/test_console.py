"""The console in chromium against a real daphne process (`make e2e`)."""

from __future__ import annotations

import re

from e2e.conftest import SHOTS, api, sign_in, token_of


def test_root_leads_to_the_console_or_the_api_docs(server, page):
    page.goto(server["base"] + "/")
    assert page.get_attribute("#to-console", "href") == "/console/"
    assert page.get_attribute("#to-docs", "href") == "/api/v1/docs"
    page.click("#to-console")
    page.wait_for_url(re.compile(r"/console/login"))


def test_dispatcher_triages_merges_dispatches_and_sees_the_live_feed(server, page):
    base = server["base"]
    sign_in(page, base, "demo_dispatcher")
    # The command room: queues with counts, the grid map from the polygons, KPI tiles, colours.
    assert page.locator("#queues [data-queue=to_triage] .figure").inner_text() == "3"
    assert page.locator("#map svg polygon.grid").count() > 10
    assert page.locator("#kpi-tiles [data-kpi=new]").is_visible()
    assert "预警颜色暂不可用" not in page.locator("#map-legend").inner_text()
    page.screenshot(path=str(SHOTS / "command-room.png"))

    # Another user handles an event through the API: the live feed shows it without reload.
    handler = token_of(base, "demo_handler")
    api(base, f"/events/{server['for_handler']}/sign", {}, handler)
    page.wait_for_selector(f"#feed li[data-event-id='{server['for_handler']}']", timeout=5000)
    assert "处置中" in page.locator(f"#feed li[data-event-id='{server['for_handler']}']").inner_text()

    # Triage: the two reports of one dispute are grouped; merge the later into the first.
    page.click("nav a[href='/console/triage']")
    page.wait_for_selector("body[data-ready='1']")
    group = page.locator(".dup-group")
    assert group.count() == 1 and group.get_attribute("data-size") == "2"
    assert set(group.locator("li").evaluate_all("rows => rows.map(r => r.dataset.eventId)")) == set(server["twins"])
    group.locator("button.merge").click()
    page.wait_for_selector(".dup-group", state="detached")
    merged = api(base, f"/events/{server['twins'][1]}", None, token_of(base, "demo_dispatcher"))
    assert merged["state"] == "merged" and merged["merged_into_id"] == server["twins"][0]

    # Accept the surviving one from the triage list.
    page.click(f"button[data-accept='{server['twins'][0]}']")
    page.wait_for_selector(f"button[data-accept='{server['twins'][0]}']", state="detached")

    # Dispatch from the event page: the form carries the API's rules (platform or department).
    page.goto(f"{base}/console/events/{server['to_dispatch']}")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#chain").inner_text().startswith("✓")
    # The directory answers (GET /events/{id}/dispatch-targets): each target kind is a list with
    # its open events, the duty list's suggestion chosen; pick the platform and no other target.
    assert page.locator("#targets-unavailable").count() == 0
    form = page.locator("form[data-step=dispatch]")
    for name in ("unit_id", "department_id", "grid_worker_id"):
        if form.locator(f"select[name={name}]").count():
            form.locator(f"select[name={name}]").select_option("")
    form.locator("select[name=platform_id]").select_option(str(server["platform_id"]))
    form.locator("textarea[name=note]").fill("请综治工作平台处理")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("form[data-step=dispatch]", state="detached")
    assert page.locator("#event-state").inner_text() == "已派遣"
    page.screenshot(path=str(SHOTS / "event-page.png"), full_page=True)
    # The handler signs for it through the API: the open event page follows without a reload.
    api(base, f"/events/{server['to_dispatch']}/sign", {}, handler)
    page.wait_for_function("() => document.querySelector('#event-state').textContent === '处置中'")
    page.wait_for_function("() => document.querySelector('#chain').textContent.startsWith('✓ 哈希链已验证 (4')")
    # Public rows (what residents read) and internal ones are told apart.
    assert page.locator("#history tr[data-public='1']").count() >= 3  # report, accept, dispatch
    assert page.locator("#history tr[data-public='1'] small.visibility").first.inner_text() == "公开"


def test_a_reason_is_required_where_the_api_requires_one(server, page):
    base = server["base"]
    sign_in(page, base, "demo_dispatcher", f"/console/events/{server['twins'][0]}")
    # Steps that take a reason need it; dispatching only against the duty list, which the API
    # decides (422 dispatch_reason_required), so the dispatch form's reason is optional.
    required = page.locator("form.step:not([data-step=dispatch]) textarea[name=reason]")
    assert required.count() >= 1
    for i in range(required.count()):
        assert required.nth(i).get_attribute("required") is not None
    dispatch_reason = page.locator("form.step[data-step=dispatch] textarea[name=reason]")
    assert dispatch_reason.count() == 0 or dispatch_reason.get_attribute("required") is None
    # Submitting an empty reason is stopped by the form (the API would answer 422).
    form = page.locator("form.step:not([data-step=dispatch])", has=page.locator("textarea[name=reason]")).first
    form.locator("button[type=submit]").click()
    assert form.locator("textarea[name=reason]").evaluate("el => el.validity.valueMissing")


def test_secretary_approves_one_closure_and_sends_one_back(server, page):
    base = server["base"]
    sign_in(page, base, "demo_secretary")
    assert page.url.endswith("/console/desk")
    first, second = server["closures"]
    assert page.locator("#approvals li").count() == 2
    # Before and after side by side, with their evidence metadata.
    assert page.locator("#current .pair figure[data-phase=before] img").count() == 1
    assert page.locator("#current .pair figure[data-phase=after] img").count() == 1
    assert "320×240" in page.locator("#current .pair").first.inner_text()
    page.screenshot(path=str(SHOTS / "approval-desk.png"), full_page=True)
    shown = page.locator("#approvals li.selected").get_attribute("data-event-id")
    # The keyboard: A approves the selected one.
    page.keyboard.press("a")
    page.wait_for_function("n => document.querySelectorAll('#approvals li[data-event-id]').length === n", arg=1)
    other = first if shown == second else second
    # R goes to the reason; sending back without one is refused on the page.
    page.keyboard.press("r")
    page.locator("#rework").click()
    assert "理由" in page.locator("#current .message").inner_text()
    page.fill("#rework-reason", "照片看不清处置结果，请补拍")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#approvals li.empty")
    token = token_of(base, "demo_secretary")
    assert api(base, f"/events/{shown}", None, token)["state"] == "closed"
    assert api(base, f"/events/{other}", None, token)["rework_count"] == 1


def test_a_page_works_at_a_phone_width_and_in_english(server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.add_init_script("localStorage.setItem('console.lang', 'en')")
    sign_in(page, server["base"], "demo_dispatcher")
    assert page.locator("#queues h2").inner_text() == "Queues"
    # One column: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("#map svg").bounding_box()
    assert box["width"] <= 390 and page.locator("#map svg polygon.grid").count() > 10
    context.close()


def test_idle_expiry_and_logout(server, page):
    base = server["base"]
    sign_in(page, base, "demo_dispatcher")
    page.evaluate("sessionStorage.setItem('console.active', String(Date.now() - 31 * 60 * 1000))")
    page.reload()
    page.wait_for_url(re.compile(r"/console/login\?.*why=idle"))
    assert "重新登录" in page.locator("#login-error").inner_text()
    sign_in(page, base, "demo_dispatcher")
    page.click("#logout")
    # The logout call, then the page's own navigation: wait for where it lands, whichever
    # navigation the browser reports (one may be aborted by the next).
    page.wait_for_function("() => location.pathname === '/console/login'")
    page.wait_for_load_state()
    assert page.evaluate("sessionStorage.getItem('console.auth')") is None


def test_kpis_colours_and_dispatch_targets_come_from_their_routes(server, page):
    """The command room's KPI tiles, trend and grid colours come from GET /stats/kpis and
    /stats/colours for the viewer's street (docs/kpis.md), the dispatch form from the
    directory: compared here with what those routes answer the same user."""
    base = server["base"]
    dispatcher = token_of(base, "demo_dispatcher")
    street = api(base, "/me", None, dispatcher)["scope"]["street_ids"][0]
    kpis = api(base, f"/stats/kpis?unit=street&unit_id={street}&period=month&series=day", None, dispatcher)
    colours = {row["unit"]["id"]: row["colour"] for row in api(base, "/stats/colours?unit=grid", None, dispatcher)}
    sign_in(page, base, "demo_dispatcher")
    assert page.locator("#kpis-unavailable").count() == 0
    assert page.locator("#kpi-tiles [data-kpi=new] .figure").inner_text() == str(kpis["figures"]["new"])
    assert page.locator("#kpi-tiles [data-kpi=overdue_now] .figure").inner_text() == str(kpis["figures"]["overdue_now"])
    assert page.locator("#trend svg polyline").count() == 1
    hexes = {"red": "#d7263d", "orange": "#f46036", "yellow": "#f2c14e", "blue": "#2e86ab", "green": "#3bb273"}
    grid_id, colour = next(iter(colours.items()))
    assert page.locator(f"#map polygon[data-grid-id='{grid_id}']").get_attribute("fill") == hexes[colour]

    # A fresh event to dispatch: the real directory (GET /events/{id}/dispatch-targets) names
    # the catalogue's handler of 家庭纠纷, the street's 综治工作 platform, and the form chooses it.
    worker, dispatcher = token_of(base, "demo_grid_worker"), token_of(base, "demo_dispatcher")
    me = api(base, "/me", None, worker)
    grid = api(base, f"/territory/grids/{me['scope']['grid_ids'][0]}", None, worker)
    ring = grid["polygon"]["coordinates"][0]
    spot = {"lat": (ring[0][1] + ring[2][1]) / 2, "lng": (ring[0][0] + ring[2][0]) / 2, "crs": "wgs84"}
    event = api(
        base,
        "/events",
        {"source": "grid_patrol", "category": "01.02", "description": "邻里纠纷待调解", "location": spot},
        worker,
    )
    api(base, f"/events/{event['id']}/accept", {}, dispatcher)
    page.goto(f"{base}/console/events/{event['id']}")
    page.wait_for_selector("body[data-ready='1']")
    choice = page.locator("form[data-step=dispatch] select[name=platform_id]")
    assert choice.input_value() == str(server["platform_id"])
    assert "建议" in choice.locator("option:checked").inner_text()
    page.locator("form[data-step=dispatch] button[type=submit]").click()
    page.wait_for_selector("form[data-step=dispatch]", state="detached")
    assert api(base, f"/events/{event['id']}", None, dispatcher)["holder_platform_id"] == server["platform_id"]
