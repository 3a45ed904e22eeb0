// Reading Zendesk through the ZAF client, as the signed-in agent: cursor pages,
// the escalation fields' ids, people's names. Every request goes to the
// account's own /api/v2/ through client.request; the app has no server.

import { fieldIdsFromTicketFields, userId } from './escalation.js';

const FIELD_CACHE_KEY = 'escalation-requests:field-ids:v1';
const FIELD_CACHE_TTL_MS = 10 * 60_000;
const MAX_FIELD_PAGES = 50;
const USERS_PER_CALL = 100; // GET /api/v2/users/show_many.json takes at most 100 ids
const RATE_LIMIT_ATTEMPTS = 3;
const DEFAULT_RETRY_AFTER_S = 10;
const MAX_RETRY_AFTER_S = 60;

/** The path and query of a URL: Zendesk's links.next are absolute URLs on the account's host. */
export function apiPath(url) {
  const parsed = new URL(url, 'https://zendesk.invalid');
  return parsed.pathname + parsed.search;
}

function header(failure, name) {
  if (failure && typeof failure.getResponseHeader === 'function') return failure.getResponseHeader(name);
  const headers = (failure && (failure.responseHeaders || failure.headers)) || {};
  return headers[name] ?? headers[name.toLowerCase()] ?? null;
}

/** How long a 429 asks us to wait, in milliseconds (Retry-After seconds, capped). */
export function retryAfterMs(failure) {
  const seconds = Number.parseInt(header(failure, 'Retry-After'), 10);
  return Math.min(Number.isFinite(seconds) && seconds >= 0 ? seconds : DEFAULT_RETRY_AFTER_S, MAX_RETRY_AFTER_S) * 1000;
}

const sleep = (ms) => new Promise((resolve) => {
  setTimeout(resolve, ms);
});

/** client.request GET; a 429 is waited out as Zendesk's Retry-After says, a few times. */
export async function get(client, url) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await client.request({ url, type: 'GET' });
    } catch (failure) {
      if (!(failure && failure.status === 429) || attempt >= RATE_LIMIT_ATTEMPTS) throw failure;
      await sleep(retryAfterMs(failure));
    }
  }
}

/** Every page of a cursor-paginated list, following links.next while meta.has_more. */
export async function* pages(client, firstUrl, maxPages = Infinity) {
  let url = firstUrl;
  for (let page = 0; url && page < maxPages; page += 1) {
    const response = await get(client, url);
    yield response;
    const next = response && response.meta && response.meta.has_more && response.links && response.links.next;
    url = next ? apiPath(next) : null;
  }
}

function readFieldCache() {
  try {
    const cached = JSON.parse(sessionStorage.getItem(FIELD_CACHE_KEY) || 'null');
    if (cached && Date.now() - cached.savedAt < FIELD_CACHE_TTL_MS) return cached.ids;
  } catch {
    // Storage can be unavailable in a sandboxed frame; the lookup still works.
  }
  return null;
}

function writeFieldCache(ids) {
  try {
    sessionStorage.setItem(FIELD_CACHE_KEY, JSON.stringify({ savedAt: Date.now(), ids }));
  } catch {
    // See readFieldCache.
  }
}

/** The escalation fields' ids, found by title (cached for a few minutes across the app's frames). */
export async function lookUpFieldIds(client, { useCache = true } = {}) {
  const cached = useCache ? readFieldCache() : null;
  if (cached) return { ids: cached, missing: [], none: false, fromCache: true };
  const ticketFields = [];
  for await (const response of pages(client, '/api/v2/ticket_fields.json?page[size]=100', MAX_FIELD_PAGES)) {
    ticketFields.push(...(response.ticket_fields || []));
  }
  const found = fieldIdsFromTicketFields(ticketFields);
  if (found.missing.length === 0) writeFieldCache(found.ids);
  return { ...found, fromCache: false };
}

export class MissingFieldsError extends Error {
  constructor(titles, none) {
    super(`missing ticket fields: ${titles.join(', ')}`);
    this.titles = titles;
    this.none = none;
  }
}

/**
 * Names of users by id, 100 ids a call; ids Zendesk does not know (deleted
 * users) are left out of the answer.
 */
export async function userNames(client, ids) {
  const wanted = [...new Set(ids.map(userId).filter(Boolean))];
  const names = new Map();
  for (let start = 0; start < wanted.length; start += USERS_PER_CALL) {
    const chunk = wanted.slice(start, start + USERS_PER_CALL);
    const response = await get(client, `/api/v2/users/show_many.json?ids=${chunk.join(',')}`);
    for (const user of (response && response.users) || []) {
      const id = userId(user.id);
      if (id) names.set(id, user.name || id);
    }
  }
  return names;
}
