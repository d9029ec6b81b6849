"""What the service must answer, written from the issue and the API doc rather than from the code under test.

Model objects are built from world.CATALOG and the documented defaults; error bodies are OpenAI's shape.
Also: how each caller of the world authenticates, and the few records the seed file cannot express.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from handler.core.catalog import permission_id
from handler.core.sessions import SessionSigner
from tests.support import world

if TYPE_CHECKING:
    from infra.registry import Registry

DEFAULT_CREATED = 1626777600  # the documented default (one-api's constant)
SESSION_COOKIE = "modelgate_session"
MASKED = "sk-te****0000"  # every world key starts `sk-te` and ends `0000`

# Records a seed file refuses to hold, added with the registry: a token whose owner does not exist, and a
# user whose sessions were revoked (used by no other test, so revoking it disturbs nothing).
ORPHAN_OWNER = "ghost"
REVOKED_USER = "dave"

CATALOG = {entry["id"]: entry for entry in world.CATALOG}
ALL_IDS = list(dict.fromkeys([*world.VIP_VISIBLE, *world.GROUPS["vip"], *world.GROUPS["basic"], *CATALOG]))
SPECIAL_IDS = ("meta-llama/Llama-3.1-8B-Instruct", "ft:gpt-3.5-turbo:acme:x:abc", "cushman:2020-05-03")

KEY_CALLERS = ("full", "future", "limited", "widening", "empty", "bob")
SESSION_CALLERS = ("session:alice", "session:bob")
CALLERS = tuple(world.EXPECTED)  # anonymous, every usable key, every logged-in user

REFUSAL = {
    "unknown": "Incorrect API key provided",
    "disabled": "This API key has been disabled",
    "expired": "This API key has expired",
    "carol-disabled-owner": "The account that owns this API key is disabled",
    "orphan": "The account that owns this API key is disabled",
}
REFUSED = (*world.REFUSED, "orphan", "unknown")


def default_permission(model_id: str) -> dict[str, Any]:
    """The documented permission object, in the documented field order."""
    return {
        "id": permission_id(model_id),
        "object": "model_permission",
        "created": DEFAULT_CREATED,
        "allow_create_engine": True,
        "allow_sampling": True,
        "allow_logprobs": True,
        "allow_search_indices": False,
        "allow_view": True,
        "allow_fine_tuning": False,
        "organization": "*",
        "group": None,
        "is_blocking": False,
    }


def model(model_id: str) -> dict[str, Any]:
    """The model object: what the catalog stores, as stored; the documented default for the rest."""
    entry = CATALOG.get(model_id, {})
    return {
        "id": model_id,
        "object": "model",
        "created": entry.get("created", DEFAULT_CREATED),
        "owned_by": entry.get("owned_by", "custom"),
        "permission": entry["permission"] if "permission" in entry else [default_permission(model_id)],
        "root": entry.get("root", model_id),
        "parent": entry.get("parent"),
    }


def listing(caller: str) -> dict[str, Any]:
    return {"object": "list", "data": [model(i) for i in world.EXPECTED[caller]]}


def hidden_ids(caller: str) -> list[str]:
    """Ids this caller must get a 404 for: the world's other ids, a disabled one and one nobody has."""
    visible = set(world.EXPECTED[caller])
    return [i for i in ALL_IDS if i not in visible] + ["o1-pro", "no-such-model"]


Body = dict[str, Any]


def error(
    message: str, *, type_: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> Body:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def not_found(model_id: str) -> Body:
    message = f"The model '{model_id}' does not exist or you do not have access to it."
    return error(message, param="model", code="model_not_found")


def refused(name: str) -> Body:
    return error(f"{REFUSAL[name]}: {MASKED}.", code="invalid_api_key")


MISSING_KEY = error(
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
MALFORMED = error(
    "Malformed Authorization header. Send exactly one: Authorization: Bearer YOUR_KEY.", code="invalid_api_key"
)
MALFORMED_KEYS = error(
    "Different API keys were sent in one request (Authorization, x-api-key, x-goog-api-key or the key query "
    "parameter). Send one key.",
    code="invalid_api_key",
)
UNKNOWN_ROUTE = error(
    "Invalid URL. This service answers GET on /v1/models, /v1/models/{model}, /v1beta/models, "
    "/v1beta/models/{model}, /v1beta/openai/models and /v1beta/openai/models/{model}.",
    code="unknown_url",
)
UNAVAILABLE = error(
    "The model directory is temporarily unavailable. Please retry shortly.",
    type_="server_error",
    code="service_unavailable",
)
INTERNAL = error("The server had an error while processing your request.", type_="server_error")


def method_not_allowed(method: str) -> Body:
    return error(f"Method {method} is not allowed here. Use GET.", code="method_not_allowed")


# -- callers -----------------------------------------------------------------------------------------------


def key_of(name: str) -> str:
    return world.UNKNOWN_KEY if name == "unknown" else world.KEYS[name]


def session_value(
    user_id: str, *, issued_at: int | None = None, ttl: int = 3600, secret: str = world.SESSION_SECRET
) -> str:
    now = int(time.time()) if issued_at is None else issued_at
    return SessionSigner(secret).issue(user_id, now=now, ttl_seconds=ttl)


def session_cookie(user_id: str, **options: Any) -> str:
    """`modelgate_session=<value>`, as a browser sends it."""
    return f"{SESSION_COOKIE}={session_value(user_id, **options)}"


def auth_headers(caller: str) -> dict[str, str | list[str]]:
    return {"Authorization": f"Bearer {key_of(caller)}"} if caller in KEY_CALLERS or caller in REFUSAL else {}


def cookies(caller: str) -> list[str]:
    return [session_cookie(caller.removeprefix("session:"))] if caller in SESSION_CALLERS else []


def invalid_sessions() -> dict[str, str]:
    """Cookies that must count as not logged in, by reason."""
    valid = session_value("alice")
    version, payload, signature = valid.split(".")
    forged_payload = session_value("bob").split(".")[1]
    return {
        "expired": session_cookie("alice", issued_at=int(time.time()) - 7200, ttl=3600),
        "tampered-payload": f"{SESSION_COOKIE}={version}.{forged_payload}.{signature}",
        "tampered-signature": f"{SESSION_COOKIE}={version}.{payload}.{signature[::-1]}",
        "other-secret": session_cookie("alice", secret="another-secret-0123456789abcdef0123456789"),
        "unknown-user": session_cookie("mallory"),
        "revoked": session_cookie(REVOKED_USER, issued_at=int(time.time()) - 60),
        "disabled-user": session_cookie("carol"),
        "garbage": f"{SESSION_COOKIE}=not-a-session",
    }


def extend_world(registry: Registry) -> None:
    """Add what the seed file cannot say: an orphan token, and a user whose sessions are revoked."""
    registry.put_token(world.KEYS["orphan"], user_id=ORPHAN_OWNER, name="orphan")
    registry.put_user(REVOKED_USER, "basic")
    registry.revoke_sessions(REVOKED_USER, now=time.time())


# -- the Anthropic and Gemini dialects (issue 9), from the issue's text ------------------------------------------


def dialect_entry(model_id: str) -> dict[str, Any]:
    entry = world.DIALECT_CATALOG.get(model_id, CATALOG.get(model_id))
    return dict(entry or {})


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def anthropic_model(model_id: str) -> dict[str, Any]:
    """`{"type":"model","id","display_name","created_at","lifecycle"}` plus the catalog's optional fields."""
    entry = dialect_entry(model_id)
    document: dict[str, Any] = {
        "type": "model",
        "id": model_id,
        "display_name": entry.get("display_name", model_id),
        "created_at": rfc3339(entry.get("created", DEFAULT_CREATED)),
        "lifecycle": entry.get("lifecycle", "active"),
    }
    for name in ("max_input_tokens", "max_tokens", "capabilities", "deprecated_at", "retires_at"):
        if name in entry:
            document[name] = entry[name]
    return document


def anthropic_page(ids: list[str], *, has_more: bool) -> dict[str, Any]:
    return {
        "data": [anthropic_model(i) for i in ids],
        "has_more": has_more,
        "first_id": ids[0] if ids else None,
        "last_id": ids[-1] if ids else None,
    }


def gemini_model(model_id: str) -> dict[str, Any]:
    """`{"name":"models/<id>","baseModelId",...}`: absent fields omitted, displayName the id by default."""
    entry = dialect_entry(model_id)
    document: dict[str, Any] = {
        "name": f"models/{model_id}",
        "baseModelId": model_id,
        "displayName": entry.get("display_name", model_id),
    }
    for stored, field in (("description", "description"), ("max_input_tokens", "inputTokenLimit")):
        if stored in entry:
            document[field] = entry[stored]
    if "max_tokens" in entry:
        document["outputTokenLimit"] = entry["max_tokens"]
    document["supportedGenerationMethods"] = ["generateContent", "countTokens"]
    return document


def openai_model(model_id: str, *, described: bool) -> dict[str, Any]:
    """The claude group's OpenAI object; `described` (OPENAI_LIST_METADATA on): then `name` and `display_name`
    (the display name), `description`, `context_length` and `max_output_tokens`, each only where the catalog has
    it, after the documented fields."""
    entry = dialect_entry(model_id)
    document: dict[str, Any] = {
        "id": model_id,
        "object": "model",
        "created": entry.get("created", DEFAULT_CREATED),
        "owned_by": entry.get("owned_by", "custom"),
        "permission": [default_permission(model_id)],
        "root": model_id,
        "parent": None,
    }
    if described:
        for stored, name in (
            ("display_name", "name"),
            ("display_name", "display_name"),
            ("description", "description"),
            ("max_input_tokens", "context_length"),
            ("max_tokens", "max_output_tokens"),
        ):
            if stored in entry:
                document[name] = entry[stored]
    return document


def anthropic_error(status_type: str, message: str) -> dict[str, Any]:
    """Anthropic's error, less its request_id (a string the test checks separately)."""
    return {"type": "error", "error": {"type": status_type, "message": message}}


def google_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


GOOGLE_BAD_KEY = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
        ],
    }
}


def extend_dialect_world(registry: Registry) -> None:
    """The `claude` group (catalog entries with metadata), its user erin, a full key and a limited one."""
    entries = {i: e for i, e in world.DIALECT_CATALOG.items() if e is not None}
    registry.put_group(world.CLAUDE_GROUP, world.CLAUDE_IDS, entries)
    registry.put_user(world.CLAUDE_USER, world.CLAUDE_GROUP)
    registry.put_token(world.CLAUDE_KEY, user_id=world.CLAUDE_USER, name="claude")
    registry.put_token(
        world.CLAUDE_LIMITED_KEY, user_id=world.CLAUDE_USER, name="claude-limited", models=world.CLAUDE_LIMITED_MODELS
    )


def extend_big_world(registry: Registry) -> None:
    """The `big` group (world.BIG_IDS, none in the catalog), its user frank and his key."""
    registry.put_group(world.BIG_GROUP, world.BIG_IDS)
    registry.put_user(world.BIG_USER, world.BIG_GROUP)
    registry.put_token(world.BIG_KEY, user_id=world.BIG_USER, name="big")
