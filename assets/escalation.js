// What the sidebar knows about an escalation, as plain data and pure functions:
// no DOM, no Zendesk client, no clock reads (time comes in as an argument).

// The ticket fields the escalation service creates, by their exact titles
// (plugin/escalations/core/fields.py). Zendesk ticket fields have no key, so the app
// looks their ids up by title. "handled_through" is the service's bookkeeping
// and is never shown.
export const FIELD_TITLES = Object.freeze({
  status: 'Escalation status',
  reason: 'Escalation reason',
  requested_at: 'Escalation requested at',
  requested_by: 'Escalation requested by',
  response_due: 'Escalation response due',
  refused_repeats: 'Escalation refused repeats',
  acknowledged_at: 'Escalation acknowledged at',
  acknowledged_by: 'Escalation acknowledged by',
  resolved_at: 'Escalation resolved at',
});

// Accounts set up by earlier versions of the service kept the user ids in number
// fields; setup moves such a field aside under these titles (Zendesk cannot change
// a field's type) and the app falls back to its value. Neither has to exist.
export const EARLIER_FIELD_TITLES = Object.freeze({
  requested_by_number: 'Escalation requested by (earlier number field)',
  acknowledged_by_number: 'Escalation acknowledged by (earlier number field)',
});

export const STATUSES = Object.freeze(['requested', 'acknowledged', 'resolved']);
const STATUS_TAG_PREFIX = 'escalation_status_';
export const TAG_ESCALATED = 'escalated';
export const TAG_OVERDUE = 'escalation_overdue';

export const DEFAULT_PHRASE = 'escalation request';
export const DEFAULT_MANAGERS_GROUP = 'Support Managers';

export function statusTag(status) {
  return STATUS_TAG_PREFIX + status;
}

/**
 * Map field keys to ids from a list of ticket fields; report the titles not
 * found. `none` says that not one of them exists: the app was installed before
 * the service's setup ran.
 */
export function fieldIdsFromTicketFields(ticketFields) {
  const idByTitle = new Map(ticketFields.map((field) => [field.title, field.id]));
  const ids = {};
  const missing = [];
  for (const [key, title] of Object.entries(FIELD_TITLES)) {
    if (idByTitle.has(title)) ids[key] = idByTitle.get(title);
    else missing.push(title);
  }
  for (const [key, title] of Object.entries(EARLIER_FIELD_TITLES)) {
    if (idByTitle.has(title)) ids[key] = idByTitle.get(title);
  }
  return { ids, missing, none: missing.length === Object.keys(FIELD_TITLES).length };
}

function text(value) {
  if (value === null || value === undefined) return '';
  return String(value).trim();
}

/**
 * A user id as a string of digits. The "requested by" and "acknowledged by"
 * fields hold it as text (Zendesk's ids exceed 2^31); earlier number fields
 * hold a number. Either is accepted.
 */
export function userId(value) {
  const id = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : text(value);
  return /^\d+$/.test(id) && !/^0+$/.test(id) ? id : '';
}

function statusFrom(value, tags) {
  const tag = text(value);
  for (const status of STATUSES) {
    if (tag === statusTag(status)) return status;
  }
  // The status drop-down adds its option's tag; fall back to the tags if the
  // field value is not available.
  for (const status of [...STATUSES].reverse()) {
    if (tags.includes(statusTag(status))) return status;
  }
  return tags.includes(TAG_ESCALATED) ? 'unknown' : null;
}

/**
 * The escalation on a ticket, from its field values (by key) and tags.
 * Returns null when the ticket is not escalated.
 */
export function readEscalation(values, tags) {
  const tagList = Array.isArray(tags) ? tags.map(String) : [];
  const status = statusFrom(values.status, tagList);
  if (status === null) return null;
  const refused = Number.parseInt(text(values.refused_repeats), 10);
  return {
    status,
    reason: values.reason === null || values.reason === undefined ? '' : String(values.reason),
    requestedAt: text(values.requested_at),
    requestedBy: userId(values.requested_by) || userId(values.requested_by_number),
    responseDue: text(values.response_due),
    refusedRepeats: Number.isFinite(refused) && refused > 0 ? refused : 0,
    acknowledgedAt: text(values.acknowledged_at),
    acknowledgedBy: userId(values.acknowledged_by) || userId(values.acknowledged_by_number),
    resolvedAt: text(values.resolved_at),
    tags: tagList.filter((tag) => tag === TAG_ESCALATED || tag.startsWith('escalation_')),
  };
}

/**
 * Whether a requested escalation has gone past its response due time without an
 * acknowledgement: the service's tag says so, or the clock does (the tag is set
 * by the service's next sweep, a few minutes later).
 */
export function isOverdue(escalation, nowMs) {
  if (!escalation || (escalation.status !== 'requested' && escalation.status !== 'unknown')) return false;
  if (escalation.tags.includes(TAG_OVERDUE)) return true;
  const minutes = minutesUntilDue(escalation.responseDue, nowMs);
  return minutes !== null && minutes < 0;
}

// The Help Center form writes new contact details under one of these labels (plugin/escalations/core/text.py,
// FORM_CONTACT_LABELS); the sidebar shows them once, in the contact row, not again inside the reason.
const FORM_CONTACT_LABELS = ['New contact details', 'Neue Kontaktdaten', 'Nouvelles coordonnées', 'Nuevos datos de contacto', 'Novos dados de contato', '新しい連絡先'];
const CONTACT_LINE = new RegExp(`^[ \\t]*(?:${FORM_CONTACT_LABELS.join('|')})[ \\t]*[:：][^\\n]*\\n?`, 'gimu');
// The shapes the service finds in a comment (plugin/escalations/core/text.py, contact_details).
const EMAIL = /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/gu;
const PHONE = /(?<![\w+])\+?\d[\d\s().-]{6,}\d(?!\w)/gu;

/** A reason without the Help Center form's line of new contact details. */
export function reasonWithoutContactLine(reason) {
  return String(reason || '').replace(CONTACT_LINE, '').replace(/\n{3,}/g, '\n\n').trim();
}

/**
 * The email addresses and phone numbers a text gives (7 to 15 digits, as the
 * service counts them), each once, emails first: the contact details a
 * customer wrote in their reason or with the form.
 */
export function contactDetailsIn(textValue) {
  const found = [];
  const source = String(textValue || '');
  for (const match of source.matchAll(EMAIL)) if (!found.includes(match[0])) found.push(match[0]);
  for (const match of source.matchAll(PHONE)) {
    const phone = match[0].trim();
    const digits = phone.replace(/\D/g, '').length;
    if (digits >= 7 && digits <= 15 && !found.includes(phone)) found.push(phone);
  }
  return found;
}

/**
 * The contact row: the new details the customer wrote, then those of their
 * profile that are not among them (compared by address, or by a phone's digits).
 */
export function contactDetails(reason, profile) {
  const given = contactDetailsIn(reason).map((value) => ({ value, source: 'comment' }));
  const key = (value) => (value.includes('@') ? value.toLowerCase() : value.replace(/\D/g, ''));
  const seen = new Set(given.map((entry) => key(entry.value)));
  const kept = [...given];
  for (const value of [profile && profile.email, profile && profile.phone]) {
    const shown = text(value);
    if (shown && !seen.has(key(shown))) {
      seen.add(key(shown));
      kept.push({ value: shown, source: 'profile' });
    }
  }
  return kept;
}

/** Field values by key from a Zendesk API ticket ({custom_fields: [{id, value}]}). */
export function valuesFromApiTicket(ticket, ids) {
  const byId = new Map((ticket.custom_fields || []).map((field) => [String(field.id), field.value]));
  const values = {};
  for (const [key, id] of Object.entries(ids)) values[key] = byId.get(String(id));
  return values;
}

export function statusRank(escalation) {
  return escalation ? STATUSES.indexOf(escalation.status) : -1;
}

/**
 * The newer of two views of the same escalation. Statuses only move forward, so
 * right after the app itself wrote "resolved" through the API, the agent's
 * ticket editor (which may lag) cannot take the sidebar back.
 */
export function newerEscalation(fromEditor, fromApi) {
  if (fromApi && statusRank(fromApi) > statusRank(fromEditor)) return fromApi;
  return fromEditor;
}

// The dashboard sorts and groups thousands of escalations again as pages
// arrive; each timestamp string is parsed once.
const parsedTimes = new Map();
const PARSED_TIMES_KEPT = 100_000;

/** Milliseconds since the epoch of an ISO 8601 time, or null. */
export function parseTime(iso) {
  if (typeof iso !== 'string') return iso === null || iso === undefined ? null : parseTime(String(iso));
  let ms = parsedTimes.get(iso);
  if (ms === undefined) {
    ms = Date.parse(iso);
    if (Number.isNaN(ms)) ms = null;
    if (parsedTimes.size >= PARSED_TIMES_KEPT) parsedTimes.clear();
    parsedTimes.set(iso, ms);
  }
  return ms;
}

/** Whole minutes until the response is due (negative once overdue), or null. */
export function minutesUntilDue(responseDue, nowMs) {
  const due = parseTime(responseDue);
  if (due === null) return null;
  const minutes = (due - nowMs) / 60000;
  return minutes >= 0 ? Math.floor(minutes) : -Math.ceil(-minutes);
}

/** {days, hours, minutes} for a number of minutes (days only from 48 h up). */
export function splitDuration(totalMinutes) {
  const minutes = Math.abs(totalMinutes);
  if (minutes >= 48 * 60) {
    return { days: Math.floor(minutes / 1440), hours: Math.floor((minutes % 1440) / 60), minutes: 0 };
  }
  return { days: 0, hours: Math.floor(minutes / 60), minutes: minutes % 60 };
}

/**
 * How the response target stands: counting down while requested, otherwise
 * whether the acknowledgement met it.
 */
export function responseState(escalation, nowMs) {
  if (escalation.status === 'requested' || escalation.status === 'unknown') {
    const minutes = minutesUntilDue(escalation.responseDue, nowMs);
    if (minutes === null) return null;
    return minutes < 0 ? { kind: 'overdue', minutes: -minutes } : { kind: 'due', minutes };
  }
  const due = parseTime(escalation.responseDue);
  const acknowledged = parseTime(escalation.acknowledgedAt);
  if (due === null || acknowledged === null) return null;
  const late = Math.floor((acknowledged - due) / 60000);
  return late > 0 ? { kind: 'missed', minutes: late } : { kind: 'met', minutes: 0 };
}

/** An ISO 8601 UTC timestamp to the second, as the escalation service writes them. */
export function isoSeconds(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Whether the signed-in user may reply to and resolve escalations: an admin,
 * or a member of the managers' group (by name, as the app's settings give it).
 * `user` is the ZAF client's currentUser ({role, groups: [{id, name}]}).
 */
export function isManager(user, managersGroup) {
  if (!user) return false;
  if (user.role === 'admin') return true;
  const wanted = text(managersGroup || DEFAULT_MANAGERS_GROUP).toLowerCase();
  return (user.groups || []).some((group) => group && text(group.name).toLowerCase() === wanted);
}

/** A manager acknowledges a waiting escalation by replying to the customer. */
export function canReply(escalation) {
  return Boolean(escalation) && escalation.status === 'requested';
}

export function canResolve(escalation) {
  return Boolean(escalation) && (escalation.status === 'requested' || escalation.status === 'acknowledged');
}

/** Whether the escalation is still someone's work: waiting for a manager, or replied to and not resolved. */
export function isOpen(escalation) {
  return Boolean(escalation) && ['requested', 'acknowledged', 'unknown'].includes(escalation.status);
}

/**
 * The PUT /api/v2/tickets/<id>.json body for a manager's resolution. Only the
 * escalation fields and one internal note are sent: no tags (a tag list would
 * replace the ticket's tags) and no public comment (the customer is not emailed).
 */
export function resolutionUpdate({ ids, nowMs, noteBody, updatedStamp }) {
  return {
    ticket: {
      custom_fields: [
        { id: ids.status, value: statusTag('resolved') },
        { id: ids.resolved_at, value: isoSeconds(nowMs) },
      ],
      comment: { body: noteBody, public: false },
      safe_update: true,
      updated_stamp: updatedStamp,
    },
  };
}

function parseJson(textValue) {
  try {
    return JSON.parse(textValue);
  } catch {
    return null;
  }
}

function firstDetail(details) {
  if (!details || typeof details !== 'object') return '';
  for (const entries of Object.values(details)) {
    const first = Array.isArray(entries) ? entries[0] : null;
    if (first && typeof first.description === 'string') return first.description;
  }
  return '';
}

/**
 * The HTTP status and a short, human-readable detail from a failed
 * client.request (which rejects with {status, responseText, responseJSON}).
 */
export function describeFailure(failure) {
  const status = failure && Number.isInteger(failure.status) ? failure.status : 0;
  const body = (failure && failure.responseJSON) || (failure && parseJson(failure.responseText)) || null;
  let detail = '';
  if (body && typeof body === 'object') {
    const { error } = body;
    detail = firstDetail(body.details)
      || (typeof body.description === 'string' ? body.description : '')
      || (error && typeof error === 'object' ? error.message || error.title || '' : '')
      || (typeof error === 'string' ? error : '');
  }
  if (!detail && failure && typeof failure.statusText === 'string') detail = failure.statusText;
  if (!detail && failure && typeof failure.message === 'string') detail = failure.message;
  detail = String(detail).replace(/\s+/g, ' ').trim();
  if (detail.length > 160) detail = `${detail.slice(0, 159)}…`;
  return { status, detail };
}

/** Which translated message explains a failed write. */
export function failureMessageKey({ status, detail }) {
  if (status === 409) return 'errors.conflict';
  if (status === 401 || status === 403) return 'errors.forbidden';
  if (status === 404) return 'errors.not_found';
  if (status === 422 && /closed/i.test(detail)) return 'errors.closed';
  if (status === 429) return 'errors.rate_limited';
  if (status === 0) return 'errors.network';
  if (status >= 500) return 'errors.server';
  return 'errors.generic';
}

/**
 * The available locale that best fits the agent's: exact (pt-BR), then the
 * language alone (pt), then the fallback (en). Case-insensitive.
 */
export function pickLocale(userLocale, available, fallback = 'en') {
  const byLower = new Map(available.map((locale) => [locale.toLowerCase(), locale]));
  const wanted = typeof userLocale === 'string' ? userLocale.trim().replace('_', '-').toLowerCase() : '';
  const candidates = [wanted, wanted.split('-')[0], fallback.toLowerCase()];
  for (const candidate of candidates) {
    if (candidate && byLower.has(candidate)) return byLower.get(candidate);
  }
  return fallback;
}

function localeTag(value) {
  const parts = text(value).replace(/_/g, '-').split('-').filter(Boolean);
  if (!parts.length || !/^[A-Za-z]{2,3}$/.test(parts[0])) return '';
  return parts.join('-').toLowerCase();
}

/**
 * The phrases customers write, by locale, from the app's setting in the
 * service's ESCALATION_PHRASES format: `en=escalation request,de=Eskalationsanfrage|escalation request`.
 * A bare phrase without `locale=` counts as English. English keeps the default
 * phrase unless the setting names one.
 */
export function parsePhrases(setting) {
  const byLocale = new Map();
  for (const entry of text(setting).split(',')) {
    if (!entry.trim()) continue;
    const equals = entry.indexOf('=');
    const locale = equals === -1 ? 'en' : localeTag(entry.slice(0, equals));
    const phrases = (equals === -1 ? entry : entry.slice(equals + 1))
      .split('|')
      .map((phrase) => phrase.trim().replace(/\s+/g, ' '))
      .filter(Boolean);
    if (!locale || !phrases.length) continue;
    const known = byLocale.get(locale) || [];
    for (const phrase of phrases) {
      if (!known.some((other) => other.toLowerCase() === phrase.toLowerCase())) known.push(phrase);
    }
    byLocale.set(locale, known);
  }
  if (!byLocale.has('en')) byLocale.set('en', [DEFAULT_PHRASE]);
  return byLocale;
}

/**
 * The phrases told to a reader in `locale`, as the service picks them: the exact
 * locale, else its language, else another variant of the language, else English.
 */
export function phrasesFor(locale, byLocale) {
  const wanted = localeTag(locale);
  const language = wanted.split('-')[0];
  const candidates = [wanted, language, ...[...byLocale.keys()].sort().filter((tag) => tag.split('-')[0] === language), 'en'];
  for (const candidate of candidates) {
    if (candidate && byLocale.has(candidate)) return byLocale.get(candidate);
  }
  return [DEFAULT_PHRASE];
}
