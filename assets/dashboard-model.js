// What the managers' dashboard shows, as plain data and pure functions: which
// escalations wait for a manager and in what order, which were handled lately,
// and the weekly figures of the charts. No DOM, no Zendesk client, no clock
// reads (time comes in as an argument). Weeks start on Monday, 00:00 UTC.

import { isOverdue, isoSeconds, minutesUntilDue, parseTime, readEscalation, userId, valuesFromApiTicket } from './escalation.js';

export const WEEKS_SHOWN = 12;
export const RECENT_DAYS = 30;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const WEEK_MS = 7 * DAY_MS;

// Every escalated ticket, 100 a page, through the search export: cursor pages
// without the plain search's 1,000-result ceiling. The export takes the object
// type in filter[type]; a `type:` term in its query is refused.
export const ESCALATED_TICKETS = '/api/v2/search/export.json?query=tags:escalated&filter[type]=ticket&page[size]=100';
// How many tickets carry the tag, for checking that what was kept still holds (one call).
export const ESCALATED_COUNT = '/api/v2/search/count.json?query=tags:escalated%20type:ticket';
// Search may lag behind changes a little: a read since a time reads again from a while before it.
export const SEARCH_LAG_MS = 10 * 60_000;
// What was kept is read in full again once a day, whatever else happened.
export const FULL_READ_EVERY_MS = 24 * HOUR_MS;

/** The escalated tickets changed after `sinceIso` (a time of Zendesk's, less the search's lag). */
export function changedTicketsQuery(sinceIso) {
  const since = parseTime(sinceIso);
  const from = isoSeconds(since - SEARCH_LAG_MS);
  return `/api/v2/search/export.json?query=tags:escalated%20updated%3E${from}&filter[type]=ticket&page[size]=100`;
}

/** The newest `updated_at` among tickets read, as Zendesk's clock tells it; '' when none. */
export function newestUpdate(tickets, since = '') {
  let newest = since;
  for (const ticket of tickets) {
    const updated = ticket && typeof ticket.updated_at === 'string' ? ticket.updated_at : '';
    if (updated && (!newest || (parseTime(updated) ?? 0) > (parseTime(newest) ?? 0))) newest = updated;
  }
  return newest;
}

/**
 * What the dashboard keeps in the browser's storage, per agent: the rows it
 * read, the ids of every ticket the search found (escalation or not, to compare
 * with the count), the names it was told, how far it has read (Zendesk's time)
 * and when it last read everything. Only what the page shows of a row is kept:
 * a reason as far as the list shows it.
 */
export function keptState({ rows, ticketIds, names, readUntil, fullReadAt, fieldIds }) {
  return {
    version: 1,
    fieldIds,
    readUntil,
    fullReadAt,
    ticketIds: [...ticketIds],
    names: [...names].filter(([, name]) => name),
    rows: [...rows].map((row) => ({ ...row, reason: row.reason.slice(0, KEPT_REASON_CHARS) })),
  };
}

const KEPT_REASON_CHARS = 200;

/**
 * The kept state when it can be used: the same escalation fields, read in full
 * within FULL_READ_EVERY_MS of `nowMs`. Else null, and everything is read again.
 */
export function usableKeptState(kept, fieldIds, nowMs) {
  if (!kept || kept.version !== 1 || !Array.isArray(kept.rows) || !Array.isArray(kept.ticketIds)) return null;
  if (JSON.stringify(kept.fieldIds) !== JSON.stringify(fieldIds)) return null;
  const fullReadAt = Number(kept.fullReadAt);
  if (!Number.isFinite(fullReadAt) || nowMs - fullReadAt > FULL_READ_EVERY_MS || nowMs < fullReadAt) return null;
  if (!parseTime(kept.readUntil)) return null;
  return kept;
}

/**
 * One dashboard row from a ticket of the search export, or null when the ticket
 * carries no escalation. Who escalated falls back to the ticket's requester.
 */
export function rowFromTicket(ticket, ids) {
  if (!ticket || (ticket.result_type && ticket.result_type !== 'ticket')) return null;
  const escalation = readEscalation(valuesFromApiTicket(ticket, ids), ticket.tags || []);
  if (!escalation) return null;
  return {
    ...escalation,
    requestedBy: escalation.requestedBy || userId(ticket.requester_id),
    ticketId: Number(ticket.id),
    subject: ticket.subject === null || ticket.subject === undefined ? '' : String(ticket.subject),
  };
}

function byTicket(a, b) {
  return a.ticketId - b.ticketId;
}

/** Minutes until the response is due, negative once overdue; null without a due time. */
export function timeLeft(row, nowMs) {
  return minutesUntilDue(row.responseDue, nowMs);
}

/**
 * Escalations waiting for a manager (requested, not yet acknowledged), overdue
 * ones first, then by time left: the most urgent at the top. Those without a
 * due time come last.
 */
export function waitingEscalations(rows, nowMs) {
  const keyed = rows
    .filter((row) => row.status === 'requested' || row.status === 'unknown')
    .map((row) => ({ row, overdue: isOverdue(row, nowMs), left: timeLeft(row, nowMs) }));
  keyed.sort((a, b) => (
    (a.overdue === b.overdue ? 0 : a.overdue ? -1 : 1)
    || (a.left ?? Infinity) - (b.left ?? Infinity)
    || byTicket(a.row, b.row)
  ));
  return keyed.map(({ row }) => row);
}

/**
 * Escalations a manager has replied to and that are not resolved: still
 * someone's work, however old, so the oldest request first.
 */
export function openEscalations(rows) {
  return rows
    .filter((row) => row.status === 'acknowledged')
    .sort((a, b) => (parseTime(a.requestedAt) ?? 0) - (parseTime(b.requestedAt) ?? 0) || byTicket(a, b));
}

/** Escalations resolved in the last `days` days, the latest first. */
export function resolvedEscalations(rows, nowMs, days = RECENT_DAYS) {
  const since = nowMs - days * DAY_MS;
  return rows
    .filter((row) => row.status === 'resolved' && (parseTime(row.resolvedAt) ?? -Infinity) >= since)
    .sort((a, b) => (parseTime(b.resolvedAt) ?? 0) - (parseTime(a.resolvedAt) ?? 0) || byTicket(a, b));
}

/** The start of the week (Monday 00:00 UTC) that holds `ms`. */
export function weekStart(ms) {
  const day = Math.floor(ms / DAY_MS) * DAY_MS;
  const weekday = (new Date(day).getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  return day - weekday * DAY_MS;
}

/** The starts of the last `count` weeks, oldest first; the last is the current week. */
export function weekStarts(nowMs, count = WEEKS_SHOWN) {
  const current = weekStart(nowMs);
  return Array.from({ length: count }, (_, index) => current - (count - 1 - index) * WEEK_MS);
}

/** Nearest-rank percentile (as `escalations report` computes it); null for no values. */
export function percentile(values, share) {
  if (!values.length) return null;
  const ordered = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(ordered.length * share));
  return ordered[rank - 1];
}

function hoursBetween(fromIso, toIso) {
  const from = parseTime(fromIso);
  const to = parseTime(toIso);
  return from === null || to === null ? null : (to - from) / HOUR_MS;
}

/**
 * How an acknowledged escalation stands against its response target, counted as
 * `escalations report` counts it: 'before' when acknowledged by the due time,
 * 'late' when acknowledged after it (or without a due time to meet), and null
 * when it was never acknowledged: still waiting, or resolved straight from
 * "requested" (the sidebar allows that), which records no acknowledgement.
 */
export function targetOutcome(row) {
  const acknowledged = parseTime(row.acknowledgedAt);
  if (acknowledged === null) return null;
  const due = parseTime(row.responseDue);
  return due !== null && acknowledged <= due ? 'before' : 'late';
}

function figuresOf(rows) {
  const toAcknowledge = rows.map((row) => hoursBetween(row.requestedAt, row.acknowledgedAt)).filter((hours) => hours !== null && hours >= 0);
  const allowed = rows.map((row) => hoursBetween(row.requestedAt, row.responseDue)).filter((hours) => hours !== null && hours > 0);
  const outcomes = rows.map((row) => targetOutcome(row)).filter(Boolean);
  const before = outcomes.filter((outcome) => outcome === 'before').length;
  return {
    requested: rows.length,
    acknowledgeP50: percentile(toAcknowledge, 0.5),
    acknowledgeP90: percentile(toAcknowledge, 0.9),
    allowed: percentile(allowed, 0.5),
    decided: outcomes.length,
    beforeDueShare: outcomes.length ? before / outcomes.length : null,
    refusedRepeats: rows.reduce((sum, row) => sum + row.refusedRepeats, 0),
  };
}

/**
 * The charts' figures for the last `count` weeks, each escalation counted in the
 * week it was requested: how many; time to acknowledge in hours (median and 90th
 * percentile) beside the time allowed (median hours from request to due: 24
 * working hours, more across a weekend); the share acknowledged by the due time
 * among those acknowledged ("decided"; as in `escalations report`, an escalation
 * never acknowledged is left out); refused repeat attempts. Weeks without a
 * figure hold null.
 */
export function weeklyFigures(rows, nowMs, count = WEEKS_SHOWN) {
  const weeks = weekStarts(nowMs, count);
  const byWeek = new Map(weeks.map((week) => [week, []]));
  for (const row of rows) {
    const requested = parseTime(row.requestedAt);
    if (requested === null) continue;
    const bucket = byWeek.get(weekStart(requested));
    if (bucket) bucket.push(row);
  }
  const perWeek = weeks.map((week) => figuresOf(byWeek.get(week)));
  const series = (name) => perWeek.map((figures) => figures[name]);
  return {
    weeks,
    // The current week is still running: its figures are so far, drawn and labelled as such.
    partial: weeks.map((week) => nowMs < week + WEEK_MS),
    requested: series('requested'),
    acknowledgeP50: series('acknowledgeP50'),
    acknowledgeP90: series('acknowledgeP90'),
    allowed: series('allowed'),
    beforeDueShare: series('beforeDueShare'),
    decided: series('decided'),
    refusedRepeats: series('refusedRepeats'),
    total: figuresOf([...byWeek.values()].flat()),
  };
}

/** The headline numbers: how many wait now and how many of those are overdue. */
export function waitingCounts(rows, nowMs) {
  const waiting = waitingEscalations(rows, nowMs);
  return { waiting: waiting.length, overdue: waiting.filter((row) => isOverdue(row, nowMs)).length };
}

/** The user ids whose names the given rows show, once each. */
export function peopleIn(rows) {
  const ids = new Set();
  for (const row of rows) {
    if (row.requestedBy) ids.add(row.requestedBy);
    if (row.acknowledgedBy) ids.add(row.acknowledgedBy);
  }
  return [...ids];
}
