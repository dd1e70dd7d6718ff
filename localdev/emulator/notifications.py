"""Notifications' PublishMessage: ``POST /20181201/topics/{topicId}/messages``.

The body is MessageDetails, ``{"title"?, "body"}``. Like the service: a topic the emulator does
not know is 404 ``NotAuthorizedOrNotFound``; a missing or non-string ``body``, a non-string
``title``, or a message over 64 KB is 400 ``InvalidParameter``; the answer is PublishResult
``{"messageId", "timeStamp"}``. Topics are added by a test (:meth:`TopicStore.add`) and keep what
was published to them, in order.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from localdev.emulator.api import ErrorResponse, Request, Response, Service, json_object, not_found, now


class Stores(Protocol):
    """The emulator stores this family's handlers read and change."""

    @property
    def topics(self) -> TopicStore: ...


API = "/20181201"
MAX_MESSAGE_BYTES = 64 * 1024


@dataclass
class TopicStore:
    """Topics by OCID, each with the messages published to it."""

    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, topic_id: str) -> None:
        self.messages.setdefault(topic_id, [])


def publish_message(service: Service[Stores], request: Request) -> Response:
    topic_id = request.params["topicId"]
    topic = service.state.topics.messages.get(topic_id)
    if topic is None:
        raise not_found(topic_id)
    document = json_object(request.body)
    if not isinstance(document.get("body"), str):
        raise ErrorResponse(400, "InvalidParameter", "body is required and must be a string")
    if "title" in document and document["title"] is not None and not isinstance(document["title"], str):
        raise ErrorResponse(400, "InvalidParameter", "title must be a string")
    if len(json.dumps(document).encode()) > MAX_MESSAGE_BYTES:
        raise ErrorResponse(400, "InvalidParameter", "the message exceeds 64 KB")
    message = {
        "messageId": uuid.uuid4().hex,
        "timeStamp": now(),
        "title": document.get("title"),
        "body": document["body"],
    }
    topic.append(message)
    return Response(200, {"messageId": message["messageId"], "timeStamp": message["timeStamp"]})
