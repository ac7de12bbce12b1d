"""`t`: send one request to a tenant from the console. Method, path, Host
(preset from the tenant's first host name) and body; shows the status, the
headers, the body and the time taken. The answer is the tenant's text: it
goes through shown_text() and into rich Text, never markup."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Static

from ..format import shown_text
from ..smoke import Answer, send_request

SHOWN_BODY_BYTES = 64 * 1024  # a larger body is cut, and says so


def answer_text(answer: Answer) -> Text:
    if answer.error:
        return Text(f"failed after {answer.ms:.1f} ms: {shown_text(answer.error)}", style="bold red")
    style = "bold green" if answer.status < 400 else "bold yellow" if answer.status < 500 else "bold red"
    text = Text.assemble((f"{answer.status} {answer.reason}", style),
                         f"  in {answer.ms:.1f} ms, {len(answer.body):,} bytes\n\n")
    for name, value in answer.headers:
        text.append(shown_text(name), style="cyan")
        text.append(f": {shown_text(value)}\n")
    text.append("\n")
    body = answer.body[:SHOWN_BODY_BYTES].decode("utf-8", errors="replace")
    text.append(shown_text(body))
    if len(answer.body) > SHOWN_BODY_BYTES:
        text.append(f"\n[... {len(answer.body) - SHOWN_BODY_BYTES:,} more bytes]", style="dim")
    return text


class RequestScreen(Screen):
    BINDINGS = [("escape", "back", "Back"), ("ctrl+s", "send", "Send")]

    class Answered(Message):
        def __init__(self, answer: Answer) -> None:
            super().__init__()
            self.answer = answer

    def __init__(self, tenant: str, host: str) -> None:
        super().__init__()
        self.tenant = tenant
        self.host = host
        self.answer: Answer | None = None
        self.sending = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="req-form"):
            with Horizontal(classes="field"):
                yield Label("method", classes="field-label")
                yield Input("GET", id="req-method", compact=True)
            with Horizontal(classes="field"):
                yield Label("path", classes="field-label")
                yield Input("/", id="req-path", compact=True)
            with Horizontal(classes="field"):
                yield Label("Host", classes="field-label")
                yield Input(self.host, id="req-host", compact=True,
                            placeholder="(none: the default tenant answers)")
            with Horizontal(classes="field"):
                yield Label("body", classes="field-label")
                yield Input("", id="req-body", compact=True, placeholder="(empty)")
            with Horizontal(classes="buttons"):
                yield Button("Send", variant="primary", id="req-send")
        with VerticalScroll(id="req-answer-box"):
            yield Static(Text("enter or Send: the answer shows here", style="dim"), id="req-answer")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"send a request to {self.tenant}"
        self.query_one("#req-answer-box").border_title = "answer"
        self.query_one("#req-path", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_send()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_send()

    def action_send(self) -> None:
        if self.sending:
            return
        method = self.query_one("#req-method", Input).value.strip().upper() or "GET"
        path = self.query_one("#req-path", Input).value.strip() or "/"
        path = path if path.startswith("/") else "/" + path
        host = self.query_one("#req-host", Input).value.strip()
        body = self.query_one("#req-body", Input).value.encode()
        self.sending = True
        self.query_one("#req-answer", Static).update(Text(f"{method} {path} …", style="dim"))
        self.send(method, path, host, body)

    @work(thread=True, exit_on_error=False)
    def send(self, method: str, path: str, host: str, body: bytes) -> None:
        try:
            answer = send_request(self.app.engine, method, path, host, body)
        except Exception as e:  # never let a request end the screen
            answer = Answer(error=f"{type(e).__name__}: {e}")
        self.post_message(self.Answered(answer))

    def on_request_screen_answered(self, message: Answered) -> None:
        self.sending = False
        self.answer = message.answer
        self.query_one("#req-answer", Static).update(answer_text(message.answer))

    def action_back(self) -> None:
        self.dismiss()
