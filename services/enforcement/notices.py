"""Notices of a decision (Art. 16(5) to notifiers, Art. 17 to the affected user), without I/O."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime

from services.enforcement.ladder import add_months
from services.enforcement.plan import PRODUCER, BatchPlan, account_of
from shared.events import (
    ActionType,
    DecidedBy,
    Decision,
    Notice,
    Recipient,
    Source,
    SubjectType,
    UserNotified,
    derive_id,
)
from shared.taxonomy import PolicyArea

# Sources with a notifier to tell the outcome to (Art. 16(5)); automated and internal have none.
NOTIFIED_SOURCES = frozenset({Source.USER_NOTICE, Source.TRUSTED_FLAGGER, Source.AUTHORITY_ORDER})


_FINAL = (
    "This decision on your appeal is final on the platform. You may refer it to a "
    "certified out-of-court dispute settlement body or to a court."
)


@functools.lru_cache(maxsize=16)
def _window(now: datetime, months: int) -> tuple[datetime, str]:
    """The end of the appeal window from ``now``, and its day as text (a batch shares one)."""
    until = add_months(now, months)
    return until, until.date().isoformat()


@functools.lru_cache(maxsize=1024)
def _messages(
    subject_type: SubjectType, area: PolicyArea, actions: tuple[ActionType, ...], automated: bool
) -> tuple[str, str]:
    """The affected user's and the notifiers' message: a handful of distinct texts."""
    done = ", ".join(a.value.replace("_", " ") for a in actions) or "no action"
    how = "by automated means" if automated else "by a human moderator"
    policy = area.value.replace("_", " ")
    return (
        f"We took the following action on your {subject_type.value} under "
        f"our {policy} policy: {done}. The decision was "
        f"taken {how}; the statement of reasons gives the grounds.",
        f"Your report was reviewed under our {policy} policy {how}. Outcome: {done}.",
    )


def plan_notices(
    d: Decision,
    issued: list[tuple[uuid.UUID, ActionType]],
    plan: BatchPlan,
    *,
    appeal_window_months: int,
) -> None:
    """The decision's ``UserNotified`` events: to the affected user (when actioned, or when
    they appealed) and to each notifier whose report it settles."""
    automated = d.decided_by is DecidedBy.AUTOMATED
    decision_ref = str(d.decision_id)
    if d.appeal is not None:
        # The appeal's decision is final inside the platform; what is left is Art. 21.
        until = plan.now
        redress = _FINAL
    else:
        until, last_day = _window(plan.now, appeal_window_months)
        redress = (
            f"You can appeal this decision free of charge until {last_day} "
            f"through the platform's appeal form, quoting decision {decision_ref}."
        )
    to_user, to_notifier = _messages(
        d.subject.subject_type, d.policy_area, tuple(a for _, a in issued), automated
    )
    account = account_of(d.subject)
    recipients: list[tuple[Recipient, str, uuid.UUID]] = []
    if account is not None and (issued or (d.appeal and d.appeal.appellant == "affected_user")):
        recipients.append((Recipient.AFFECTED_USER, account, d.report_id))
    if d.appeal is None and d.source in NOTIFIED_SOURCES:
        recipients += [(Recipient.NOTIFIER, str(r), r) for r in (d.report_ids or [d.report_id])]
    elif d.appeal is not None and d.appeal.appellant == "notifier":
        recipients.append((Recipient.NOTIFIER, str(d.report_id), d.report_id))
    for recipient, ref, report_id in recipients:
        message = to_user if recipient is Recipient.AFFECTED_USER else to_notifier
        plan.events.append(
            UserNotified.unchecked(
                event_id=derive_id("event", "notice", decision_ref, recipient, ref),
                occurred_at=plan.now,
                producer=PRODUCER,
                correlation_id=d.report_id,
                payload=Notice.unchecked(
                    notice_id=derive_id("notice", decision_ref, recipient, ref),
                    recipient=recipient,
                    recipient_ref=ref,
                    report_id=report_id,
                    decision_id=d.decision_id,
                    subject=d.subject,
                    outcome=d.outcome,
                    action=d.action,
                    policy_area=d.policy_area,
                    automated=automated,
                    message=message,
                    redress=redress,
                    appeal_until=until,
                ),
            )
        )
