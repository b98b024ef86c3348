"""Notices of a decision (Art. 16(5) to notifiers, Art. 17 to the affected user), without I/O."""

from __future__ import annotations

import uuid

from services.enforcement.ladder import add_months
from services.enforcement.plan import PRODUCER, BatchPlan, account_of
from shared.events import (
    ActionType,
    DecidedBy,
    Decision,
    Notice,
    Recipient,
    Source,
    UserNotified,
    derive_id,
)

# Sources with a notifier to tell the outcome to (Art. 16(5)); automated and internal have none.
NOTIFIED_SOURCES = frozenset({Source.USER_NOTICE, Source.TRUSTED_FLAGGER, Source.AUTHORITY_ORDER})


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
    if d.appeal is not None:
        # The appeal's decision is final inside the platform; what is left is Art. 21.
        until = plan.now
        redress = (
            "This decision on your appeal is final on the platform. You may refer it to a "
            "certified out-of-court dispute settlement body or to a court."
        )
    else:
        until = add_months(plan.now, appeal_window_months)
        redress = (
            f"You can appeal this decision free of charge until {until.date().isoformat()} "
            f"through the platform's appeal form, quoting decision {d.decision_id}."
        )
    done = ", ".join(a.value.replace("_", " ") for _, a in issued) or "no action"
    how = "by automated means" if automated else "by a human moderator"
    account = account_of(d.subject)
    recipients: list[tuple[Recipient, str, uuid.UUID]] = []
    if account is not None and (issued or (d.appeal and d.appeal.appellant == "affected_user")):
        recipients.append((Recipient.AFFECTED_USER, account, d.report_id))
    if d.appeal is None and d.source in NOTIFIED_SOURCES:
        recipients += [(Recipient.NOTIFIER, str(r), r) for r in (d.report_ids or [d.report_id])]
    elif d.appeal is not None and d.appeal.appellant == "notifier":
        recipients.append((Recipient.NOTIFIER, str(d.report_id), d.report_id))
    decision_ref = str(d.decision_id)
    for recipient, ref, report_id in recipients:
        if recipient is Recipient.AFFECTED_USER:
            message = (
                f"We took the following action on your {d.subject.subject_type.value} under "
                f"our {d.policy_area.value.replace('_', ' ')} policy: {done}. The decision was "
                f"taken {how}; the statement of reasons gives the grounds."
            )
        else:
            message = (
                f"Your report was reviewed under our {d.policy_area.value.replace('_', ' ')} "
                f"policy {how}. Outcome: {done}."
            )
        plan.events.append(
            UserNotified.unchecked(
                event_id=derive_id("event", "notice", decision_ref, recipient.value, ref),
                occurred_at=plan.now,
                producer=PRODUCER,
                correlation_id=d.report_id,
                payload=Notice.unchecked(
                    notice_id=derive_id("notice", decision_ref, recipient.value, ref),
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
