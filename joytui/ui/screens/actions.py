"""Acting on resources: the action menu (``a``), the parameter form, the confirmation, the
command palette's actions, and the flow that leads from one to the next.

Every request goes through the session's :class:`~joytui.core.actions.ActionRunner`, which
enforces read-only and sends each action once; these screens only ask. Nothing is sent until
the confirmation is answered yes; Escape anywhere sends nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Provider
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from joytui.core.actions import (
    ACCOUNT_KIND,
    ActionReport,
    Offer,
    Outcome,
    ParamSpec,
    RunnerEvent,
    account_target,
    consequence,
    marked_offers,
)
from joytui.core.audit import safe_params
from joytui.core.session import Session
from joytui.model import Action, Resource, Status
from joytui.safe_text import printable

RESERVED_KEYS = frozenset("jkq")
"""Never given to an action in the menu (they move, or quit, elsewhere)."""
SHOWN_IN_BULK = 4
"""Resources a bulk confirmation names one by one."""


class ActionEvent(Message):
    """Something the action runner did (a worker never touches widgets: this carries it)."""

    def __init__(self, event: RunnerEvent) -> None:
        super().__init__()
        self.event = event


def assign_keys(labels: Sequence[str]) -> list[str]:
    """A key per label, told apart: a word's first letter if free, else another of its letters,
    else a digit. The same labels always get the same keys."""
    used: set[str] = set()
    keys = []
    for label in labels:
        words = label.lower().split()
        candidates = [w[0] for w in words if w] + [c for c in label.lower() if c.isalpha()]
        candidates += [str(d) for d in range(1, 10)]
        key = next(c for c in candidates if c not in used and c not in RESERVED_KEYS)
        used.add(key)
        keys.append(key)
    return keys


def describe(resources: Sequence[Resource]) -> Text:
    """``machine 'web-1' (joy sim-joy)`` or ``3 resources``, as plain text (never markup)."""
    if len(resources) == 1:
        r = resources[0]
        if r.kind == ACCOUNT_KIND:
            return Text(f"{r.provider} account {printable(r.account)!r}")
        return Text(f"{r.kind} {printable(r.name)!r} ({r.provider} {printable(r.account)})")
    return Text(f"{len(resources)} marked resources")


# -- the menu -----------------------------------------------------------------------------------


class ActionMenu(ModalScreen[Offer | None]):
    """The actions valid now for the resource (or the marked ones), each with its key;
    Escape closes it and sends nothing."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_menu", "Close", id="close_actions"),
    ]

    def __init__(
        self,
        resources: Sequence[Resource],
        offers: Sequence[Offer],
        account_offers: Sequence[Offer] = (),
    ) -> None:
        super().__init__()
        self.resources = list(resources)
        self.offers = list(offers)
        self.account_offers = list(account_offers)
        every = [*self.offers, *self.account_offers]
        self.keys = dict(zip(assign_keys([o.action.label for o in every]), every, strict=True))

    def compose(self) -> ComposeResult:
        with Vertical(id="actions-body"):
            title = Text("Actions: ", style="bold")
            title.append_text(describe(self.resources))
            yield Static(title, id="actions-title")
            options: list[Option | None] = []
            by_offer = {id(o): k for k, o in self.keys.items()}
            for offer in self.offers:
                options.append(self._option(offer, by_offer[id(offer)]))
            if self.account_offers:
                account = self.resources[0]
                if self.offers:
                    options.append(None)  # a separator
                for offer in self.account_offers:
                    option = self._option(offer, by_offer[id(offer)], f" in {account.account}")
                    options.append(option)
            if not options:
                yield Static(Text(self._nothing(), style="italic"), id="actions-none")
            yield OptionList(*options, id="actions-list")
            yield Static(
                Text("key or ↑↓ Enter chooses · Esc closes, nothing is sent", style="dim"),
                id="actions-hint",
            )

    def _nothing(self) -> str:
        if len(self.resources) > 1:
            return "The marked resources have no action (without parameters) in common."
        r = self.resources[0]
        return f"A {r.kind} that is {r.status.value} offers no action now."

    def _option(self, offer: Offer, key: str, suffix: str = "") -> Option:
        text = Text()
        text.append(f" {key} ", style="bold reverse")
        text.append(f" {offer.action.label}{printable(suffix)}")
        if offer.params:
            text.append("…")  # a form follows
        if offer.action.destructive:
            text.append("  (destructive)", style="bold")
        if offer.disabled:
            text.append(f"  — refused: {printable(offer.disabled)}", style="italic")
        return Option(text, id=f"action-{key}")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_key(self, event: events.Key) -> None:
        offer = self.keys.get(event.character or "")
        if offer is not None:
            event.stop()
            self.dismiss(offer)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        key = (event.option.id or "").removeprefix("action-")
        if key in self.keys:
            self.dismiss(self.keys[key])

    def action_dismiss_menu(self) -> None:
        self.dismiss(None)


# -- the form -----------------------------------------------------------------------------------


def host_choices(session: Session, resource: Resource) -> list[tuple[str, str]]:
    """(label, id) of the hosts a VM can move to: its account's connected hosts, not its own."""
    return [
        (printable(h.name), h.id)
        for h in session.store.resources()
        if h.provider == resource.provider
        and h.account == resource.account
        and h.kind == "host"
        and h.id != resource.parent
        and h.status is Status.RUNNING
    ]


class ActionForm(ModalScreen[dict[str, Any] | None]):
    """The parameters of an action (a migration's destination and options, a spawn's key, tag,
    env vars and limits...). Enter or Continue goes on to the confirmation; Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="cancel_form"),
    ]

    def __init__(self, session: Session, resource: Resource, offer: Offer) -> None:
        super().__init__()
        self.session = session
        self.resource = resource
        self.offer = offer

    def compose(self) -> ComposeResult:
        with Vertical(id="form-body"):
            title = Text(f"{self.offer.action.label}: ", style="bold")
            title.append_text(describe([self.resource]))
            yield Static(title)
            with VerticalScroll(id="form-fields"):  # scrolls on a small terminal
                for spec in self.offer.params:
                    yield from self._field(spec)
            yield Static("", id="form-problem")
            with Horizontal(id="form-buttons"):
                yield Button("Cancel", id="form-cancel")
                yield Button("Continue", id="form-continue", variant="primary")

    def _field(self, spec: ParamSpec) -> ComposeResult:
        label = spec.label + (" *" if spec.required else "")
        hint = f"  {spec.help}" if spec.help else ""
        field_id = f"param-{spec.name}"
        if spec.kind == "bool":
            default = spec.default
            if (self.offer.action.id, spec.name) == ("migrate", "live"):
                default = self.resource.status is Status.RUNNING
            yield Checkbox(label, bool(default), id=field_id)
            if hint:
                yield Label(Text(hint, style="dim"))
            return
        yield Label(Text(label + hint))
        if spec.kind == "host":
            choices = host_choices(self.session, self.resource)
            if choices:
                yield Select(choices, value=choices[0][1], allow_blank=False, id=field_id)
            else:
                yield Static(Text("no other connected host in this account", style="bold"))
            return
        if spec.kind == "choice":
            options = [(c, c) for c in spec.choices]
            yield Select(
                options, value=spec.default or spec.choices[0], allow_blank=False, id=field_id
            )
            return
        placeholder = "NAME=VALUE NAME=VALUE" if spec.kind == "env" else ""
        yield Input(placeholder=placeholder, id=field_id, type="text")

    def on_mount(self) -> None:
        first = self.query("Input, Select, Checkbox").first()
        first.focus()

    def values(self) -> dict[str, Any]:
        """What the form holds, by parameter name (blank fields left out)."""
        found: dict[str, Any] = {}
        for spec in self.offer.params:
            widgets = self.query(f"#param-{spec.name}")
            if not widgets:
                continue
            widget = widgets.first()
            if isinstance(widget, Checkbox):
                found[spec.name] = widget.value
            elif isinstance(widget, Select):
                if widget.value is not Select.BLANK:
                    found[spec.name] = widget.value
            elif isinstance(widget, Input) and widget.value.strip():
                found[spec.name] = widget.value.strip()
        return found

    def _submit(self) -> None:
        from joytui.core.actions import ParamError, coerce_params

        values = self.values()
        try:
            coerce_params(self.resource, self.offer.action.id, values)
        except ParamError as exc:
            self.query_one("#form-problem", Static).update(Text(str(exc), style="bold"))
            return
        self.dismiss(values)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "form-continue":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


# -- the confirmation ---------------------------------------------------------------------------


class ConfirmAction(ModalScreen[bool]):
    """Names the action, the resource (name and id), the account and the provider, and says
    what it will do. Reversible: ``y`` or Enter confirms, ``n`` or Escape cancels, focus starts
    on Cancel. Destructive: the resource's name (for several, their number) must be typed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="confirm_cancel"),
        # Enter confirms even with focus on Cancel (the contract); only where no name is typed.
        Binding("y,enter", "answer(True)", "Confirm", priority=True, id="confirm_yes"),
        Binding("n", "answer(False)", "Cancel", priority=True, id="confirm_no"),
    ]

    def __init__(
        self, resources: Sequence[Resource], action: Action, params: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        self.resources = list(resources)
        self.action = action
        self.params = dict(params or {})
        self.destructive = action.destructive
        self._answered = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A destructive confirmation takes typing: y, n and Enter go to the name field.
        return not (self.destructive and action == "answer")

    def action_cancel(self) -> None:
        self.action_answer(False)

    @property
    def expected(self) -> str:
        """What a destructive action needs typed: the name, or the number of resources."""
        if len(self.resources) == 1:
            return self.resources[0].name
        return str(len(self.resources))

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-body", classes="-destructive" if self.destructive else ""):
            yield Static(self._head(), id="confirm-what")
            yield Static(self._doing(), id="confirm-doing")
            if self.destructive:
                ask = "Type the number of resources" if len(self.resources) > 1 else "Type its name"
                yield Label(Text(f"{ask} ({printable(self.expected)}) to confirm:"))
                yield Input(id="confirm-typed")
                yield Static("", id="confirm-problem")
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="confirm-no")
                yield Button(
                    self.action.label,
                    id="confirm-yes",
                    variant="error" if self.destructive else "primary",
                    disabled=self.destructive,
                )
            keys = (
                "type, then Enter · Esc cancels"
                if self.destructive
                else "y/Enter confirms · n/Esc cancels"
            )
            yield Static(Text(keys, style="dim"), id="confirm-keys")

    def _head(self) -> Text:
        text = Text()
        text.append(f"{self.action.label} ", style="bold")
        if len(self.resources) == 1:
            r = self.resources[0]
            if r.kind == ACCOUNT_KIND:
                text.append(f"in {r.provider} account {printable(r.account)!r}\n", style="bold")
            else:
                text.append(f"{r.kind} {printable(r.name)!r}\n", style="bold")
                text.append(f"id {printable(r.id)}\n")
                text.append(f"account {printable(r.account)!r} ({r.provider})\n")
        else:
            text.append(f"{len(self.resources)} resources\n", style="bold")
            for r in self.resources[:SHOWN_IN_BULK]:
                text.append(
                    f"  {r.kind} {printable(r.name)!r}  id {printable(r.id)}  "
                    f"account {printable(r.account)!r} ({r.provider})\n"
                )
            if len(self.resources) > SHOWN_IN_BULK:
                text.append(f"  and {len(self.resources) - SHOWN_IN_BULK} more\n")
        if self.params:
            shown = ", ".join(
                f"{k}={printable(str(v))}" for k, v in safe_params(self.params).items()
            )
            text.append(f"with {shown}\n")
        text.rstrip()
        return text

    def _doing(self) -> Text:
        kinds = {r.kind for r in self.resources}
        words = consequence(self.action.id, kinds.pop() if len(kinds) == 1 else "")
        return Text(words, style="bold" if self.destructive else "")

    def on_mount(self) -> None:
        if self.destructive:
            self.query_one("#confirm-typed", Input).focus()
        else:
            self.query_one("#confirm-no", Button).focus()

    def _typed_ok(self, typed: str) -> bool:
        typed = typed.strip()
        if len(self.resources) > 1:
            return typed == self.expected
        r = self.resources[0]
        return bool(typed) and typed in (r.name, r.id)  # the id for a name no one can type

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#confirm-yes", Button).disabled = not self._typed_ok(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._typed_ok(event.value):
            self.action_answer(True)
        else:
            problem = self.query_one("#confirm-problem", Static)
            problem.update(Text("That does not match: nothing was sent.", style="bold"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_answer(event.button.id == "confirm-yes")

    def action_answer(self, yes: bool) -> None:
        if self._answered:  # a second y, a double click: still one answer
            return
        if yes and self.destructive:
            typed = self.query_one("#confirm-typed", Input).value
            if not self._typed_ok(typed):
                return
        self._answered = True
        self.dismiss(yes)


# -- the flow -----------------------------------------------------------------------------------


async def offers_for(
    session: Session, resources: Sequence[Resource]
) -> tuple[list[Offer], list[Offer]]:
    """The offers of ``resources`` (the common ones of several) and, for one resource, its
    account's own (create)."""
    runner = session.actions
    each = [await runner.offered(r) for r in resources]
    if len(resources) != 1:
        return marked_offers(each), []
    r = resources[0]
    if r.kind == ACCOUNT_KIND:
        return each[0], []
    return each[0], await runner.offered(account_target(r.provider, r.account))


async def run_action_flow(
    app: App[Any],
    session: Session,
    resources: Sequence[Resource],
    action_id: str | None = None,
) -> list[ActionReport] | None:
    """Menu (unless ``action_id`` is given), form, confirmation, then the runner; the outcome
    is notified. None when nothing was sent. Must run in a worker (it waits on screens)."""
    offers, account_offers = await offers_for(session, resources)
    if action_id is None:
        chosen = await app.push_screen_wait(ActionMenu(resources, offers, account_offers))
        if chosen is None:
            return None
    else:
        found = [o for o in [*offers, *account_offers] if o.action.id == action_id]
        if not found:
            app.notify(f"{action_id} is not offered now", severity="warning")
            return None
        chosen = found[0]
    targets = list(resources)
    if any(o is chosen for o in account_offers):  # by identity: equal offers may differ
        targets = [account_target(resources[0].provider, resources[0].account)]
    params: dict[str, Any] = {}
    if chosen.disabled is None:
        if chosen.params:
            form = await app.push_screen_wait(ActionForm(session, targets[0], chosen))
            if form is None:
                app.notify("Cancelled: nothing was sent", timeout=3)
                return None
            params = form
        if not await app.push_screen_wait(ConfirmAction(targets, chosen.action, params)):
            app.notify("Cancelled: nothing was sent", timeout=3)
            return None
    # A disabled action goes to the runner too: it refuses (and logs the refusal) itself.
    runner = session.actions
    if len(targets) == 1:
        reports = [await runner.perform(targets[0], chosen.action.id, params)]
    else:
        reports = await runner.perform_many(targets, chosen.action.id, params)
    notify_reports(app, chosen.action.label, reports)
    return reports


_SEVERITY = {
    Outcome.OK: "information",
    Outcome.REFUSED: "warning",
    Outcome.UNKNOWN: "warning",
    Outcome.ERROR: "error",
}


def notify_reports(app: App[Any], label: str, reports: Sequence[ActionReport]) -> None:
    """One notification: the report in words, or a bulk action's tally and its failures."""
    problems = {r.audit_problem for r in reports if r.audit_problem}
    for problem in problems:
        app.notify(problem, severity="error", timeout=10)
    if len(reports) == 1:
        report = reports[0]
        app.notify(report.words(), severity=_SEVERITY[report.outcome], timeout=8)  # type: ignore[arg-type]
        return
    ok = sum(r.ok for r in reports)
    lines = [f"{label}: {ok} of {len(reports)} accepted"]
    for report in [r for r in reports if not r.ok][:4]:
        lines.append(f"{report.resource.name}: {report.message}")
    worst = max((r.outcome for r in reports), key=list(_SEVERITY).index)
    app.notify("\n".join(lines), severity=_SEVERITY[worst], timeout=10)  # type: ignore[arg-type]


# -- the command palette ------------------------------------------------------------------------


class ActionCommands(Provider):
    """The actions of the resource under the cursor (or the marked ones), and each account's
    own, in the command palette."""

    async def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        screen = self.screen
        targets_of = getattr(screen, "action_targets", None)
        start = getattr(screen, "start_action", None)
        session = getattr(screen, "session", None)
        if targets_of is None or start is None or not isinstance(session, Session):
            return []
        found: list[tuple[str, str, Callable[[], Any]]] = []
        targets = targets_of()
        if targets:
            offers, _ = await offers_for(session, targets)
            what = describe(targets).plain
            for offer in offers:
                words = consequence(offer.action.id, targets[0].kind)
                if offer.disabled:
                    words = f"refused: {offer.disabled}"
                found.append(
                    (
                        f"Action: {offer.action.label} {what}",
                        f"{words} (key a)",
                        partial(start, offer.action.id, targets),
                    )
                )
        for handle in session.handles:
            if handle.client is None:
                continue
            account = account_target(handle.provider, handle.name)
            for offer in await session.actions.offered(account):
                found.append(
                    (
                        f"Action: {offer.action.label} in {printable(handle.name)} "
                        f"({handle.provider})",
                        consequence(offer.action.id, ACCOUNT_KIND),
                        partial(start, offer.action.id, [account]),
                    )
                )
        return found

    async def discover(self) -> AsyncIterator[DiscoveryHit]:
        for name, help_text, callback in await self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> AsyncIterator[Hit]:
        matcher = self.matcher(query)
        for name, help_text, callback in await self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


__all__ = [
    "ActionCommands",
    "ActionEvent",
    "ActionForm",
    "ActionMenu",
    "ConfirmAction",
    "assign_keys",
    "host_choices",
    "notify_reports",
    "offers_for",
    "run_action_flow",
]
