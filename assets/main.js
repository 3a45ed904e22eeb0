// The ticket sidebar: reads the escalation from the agent's ticket through the
// ZAF client and shows it. A manager acknowledges it by replying to the
// customer (the button opens a public reply in the ticket's editor; the
// escalation service records the acknowledgement once the reply is sent) and
// resolves it through Zendesk's own API as the signed-in agent. Customer text
// only ever reaches the page as text nodes (textContent / append of strings),
// never as markup.

import {
  DEFAULT_MANAGERS_GROUP,
  DEFAULT_PHRASE,
  canReply,
  canResolve,
  contactDetails,
  describeFailure,
  failureMessageKey,
  isManager,
  isOpen,
  isOverdue,
  newerEscalation,
  parsePhrases,
  phrasesFor,
  readEscalation,
  reasonWithoutContactLine,
  resolutionUpdate,
  responseState,
  statusRank,
  valuesFromApiTicket,
} from './escalation.js';
import { el, loadStrings, loadTranslator } from './ui.js';
import { MissingFieldsError, lookUpFieldIds } from './zendesk.js';

const COUNTDOWN_EVERY_MS = 30_000;

const $ = (id) => document.getElementById(id);

const state = {
  client: null,
  ticketId: null,
  requesterId: '', // the ticket's requester, whose language the reply's first line is in
  requesterLocale: '',
  currentUser: null,
  manager: false, // may reply to and resolve (the managers' group or an admin)
  phrases: [DEFAULT_PHRASE], // what customers write, in the reader's language
  ids: null,
  idsFromCache: false,
  fromEditor: null, // the escalation as the agent's ticket editor shows it
  fromApi: null, // the escalation as the API last returned it to this app
  escalation: null, // what the sidebar shows: the newer of the two
  renderedKey: '',
  reasonExpanded: false,
  resolving: false,
  busy: false,
  lastHeight: 0,
};

let translator = null;
const t = (key, params) => (translator ? translator.t(key, params) : key);

function timeElement(iso) {
  return el('time', { datetime: iso }, translator.time(iso));
}

function showStatus(message) {
  $('alert').textContent = '';
  $('status-message').textContent = message;
}

function showAlert(message) {
  $('status-message').textContent = '';
  $('alert').textContent = message;
}

function clearMessages() {
  $('status-message').textContent = '';
  $('alert').textContent = '';
}

function resize() {
  if (!state.client) return;
  const height = Math.ceil(document.body.getBoundingClientRect().height);
  if (height === state.lastHeight) return;
  state.lastHeight = height;
  state.client.invoke('resize', { width: '100%', height: `${height}px` });
}

// ---- Zendesk reads ----------------------------------------------------------------

function customFieldPath(id) {
  return `ticket.customField:custom_field_${id}`;
}

/** The escalation as the agent's ticket editor currently shows it. */
async function readFromEditor() {
  const paths = ['ticket.tags', ...Object.values(state.ids).map(customFieldPath)];
  const data = await state.client.get(paths);
  const failed = Object.keys(data.errors || {}).some((path) => path.startsWith('ticket.customField:'));
  if (failed && state.idsFromCache) {
    // A cached id no longer exists (the fields were re-created): look them up again.
    await findFields({ useCache: false });
    return readFromEditor();
  }
  if (failed) {
    // The fields exist but the editor cannot read them (e.g. they are not on
    // this ticket's form): the stored ticket has them all.
    return escalationFromApiTicket(await readFromApi());
  }
  const values = {};
  for (const [key, id] of Object.entries(state.ids)) values[key] = data[customFieldPath(id)];
  return readEscalation(values, data['ticket.tags'] || []);
}

/** The ticket as stored, straight from the API (for deciding and for the update stamp). */
async function readFromApi() {
  const response = await state.client.request({ url: `/api/v2/tickets/${state.ticketId}.json`, type: 'GET' });
  return response.ticket;
}

function escalationFromApiTicket(ticket) {
  return readEscalation(valuesFromApiTicket(ticket, state.ids), ticket.tags || []);
}

async function findFields(options) {
  const found = await lookUpFieldIds(state.client, options);
  if (found.missing.length) throw new MissingFieldsError(found.missing, found.none);
  state.ids = found.ids;
  state.idsFromCache = found.fromCache;
}

const profiles = new Map();

/** A user's name, email and phone (their profile), looked up once. */
function userProfile(id) {
  if (!id) return Promise.resolve(null);
  if (!profiles.has(id)) {
    const lookup = state.client
      .request({ url: `/api/v2/users/${id}.json`, type: 'GET' })
      .then((response) => {
        const user = response.user || {};
        return { name: user.name || t('unknown_user', { id }), email: user.email || '', phone: user.phone || '' };
      })
      .catch(() => ({ name: t('unknown_user', { id }), email: '', phone: '' }));
    profiles.set(id, lookup);
  }
  return profiles.get(id);
}

// ---- rendering ------------------------------------------------------------------------

const BADGE_COLOURS = { requested: 'c-tag--yellow', acknowledged: 'c-tag--blue', resolved: 'c-tag--green' };

function fact(key, content) {
  return el('div', { class: 'fact', 'data-fact': key }, [el('dt', {}, t(`labels.${key}`)), el('dd', {}, content)]);
}

function personAt(name, iso) {
  if (name && iso) return t('person_at', { name, time: translator.time(iso) });
  return iso ? translator.time(iso) : name;
}

function reasonContent(escalation) {
  const reason = reasonWithoutContactLine(escalation.reason);
  if (!reason) return [el('p', { class: 'reason reason--empty', id: 'reason' }, t('no_reason'))];
  const shown = el('p', { class: 'reason', id: 'reason' }, reason);
  const toggle = el('button', { type: 'button', class: 'link-button', id: 'reason-toggle', 'aria-controls': 'reason', hidden: true });
  toggle.addEventListener('click', () => {
    state.reasonExpanded = !state.reasonExpanded;
    applyReasonExpansion();
  });
  return [shown, toggle];
}

function applyReasonExpansion() {
  const reason = $('reason');
  const toggle = $('reason-toggle');
  if (!reason || !toggle) return;
  reason.classList.toggle('is-expanded', state.reasonExpanded);
  const clipped = reason.scrollHeight > reason.clientHeight + 1;
  toggle.hidden = !clipped && !state.reasonExpanded;
  toggle.textContent = state.reasonExpanded ? t('show_less') : t('show_more');
  toggle.setAttribute('aria-expanded', String(state.reasonExpanded));
  resize();
}

/** The contact row: new details from the customer's comment first, then their profile's email and phone. */
function contactContent(escalation, customer) {
  const entries = contactDetails(escalation.reason, customer);
  if (!entries.length) return null;
  return [el('ul', { class: 'contact-list' }, entries.map((entry) => el('li', { 'data-source': entry.source }, [
    el('span', { class: 'contact-value' }, entry.value),
    ' ',
    el('span', { class: 'quiet' }, t(`contact_source.${entry.source}`)),
  ])))];
}

/** How the acknowledgement met the response target, in the dashboard's colours. */
function outcomeOf(escalation) {
  const standing = responseState(escalation, Date.now());
  if (!standing || (standing.kind !== 'met' && standing.kind !== 'missed')) return null;
  const words = t(`countdown.${standing.kind}`, { duration: translator.duration(standing.minutes) });
  return el('span', { class: `outcome outcome--${standing.kind}`, 'data-outcome': standing.kind }, words);
}

function buildDetails(escalation, people) {
  const resolved = escalation.status === 'resolved';
  const headline = el('div', { class: 'headline' }, [
    el('span', { class: 'visually-hidden' }, `${t('labels.status')}:`),
    el('span', { class: `c-tag c-tag--pill ${BADGE_COLOURS[escalation.status] || ''}`, id: 'status-badge', 'data-status': escalation.status }, [
      el('span', {}, t(`status.${escalation.status}`)),
    ]),
    el('span', { class: 'c-tag c-tag--pill c-tag--red', id: 'overdue-badge', hidden: true }, [el('span', {}, t('status.overdue'))]),
    // While the escalation waits, the time left leads; once a manager replied or it was resolved, the outcome does.
    el('span', { class: 'countdown', id: 'countdown', hidden: true }),
    resolved && escalation.resolvedAt ? el('span', { class: 'resolved-at', id: 'resolved-at' }, [timeElement(escalation.resolvedAt)]) : null,
  ]);

  const facts = [];
  if (escalation.responseDue && !resolved) facts.push(fact('response_due', [timeElement(escalation.responseDue)]));
  facts.push(fact('reason', reasonContent(escalation)));
  const contact = contactContent(escalation, people.requestedBy);
  if (contact) facts.push(fact('contact', contact));
  if (escalation.requestedBy || escalation.requestedAt) {
    facts.push(fact('requested', personAt(people.requestedBy && people.requestedBy.name, escalation.requestedAt)));
  }
  if (escalation.acknowledgedBy || escalation.acknowledgedAt) {
    const replied = personAt(people.acknowledgedBy && people.acknowledgedBy.name, escalation.acknowledgedAt);
    const outcome = outcomeOf(escalation);
    facts.push(fact('acknowledged', [replied, ...(outcome ? [el('br'), outcome] : [])]));
  }
  if (escalation.refusedRepeats > 0) {
    facts.push(fact('refused_repeats', t('refused_repeats', { count: escalation.refusedRepeats })));
  }

  const guidance = !state.manager && isOpen(escalation)
    ? el('p', { class: 'guidance', id: 'guidance' }, t('guidance'))
    : null;
  $('escalation').replaceChildren(...[headline, guidance, el('dl', { class: 'facts' }, facts)].filter(Boolean));
  applyReasonExpansion();
}

/** The live part: the countdown while the escalation waits, and the overdue badge once the due time passes. */
function updateCountdown() {
  const node = $('countdown');
  if (!node || !state.escalation) return;
  const now = Date.now();
  $('overdue-badge').hidden = !isOverdue(state.escalation, now);
  const standing = responseState(state.escalation, now);
  const waiting = standing !== null && (standing.kind === 'due' || standing.kind === 'overdue');
  node.hidden = !waiting;
  if (!waiting) return;
  const key = standing.kind === 'due' ? 'countdown.due_in' : 'countdown.overdue_by';
  node.textContent = t(key, { duration: translator.duration(standing.minutes) });
  node.dataset.kind = standing.kind;
  node.classList.toggle('is-overdue', standing.kind === 'overdue');
}

function updateActions() {
  const { escalation } = state;
  const reply = state.manager && canReply(escalation);
  const resolve = state.manager && canResolve(escalation);
  if (!resolve) state.resolving = false;
  $('reply').hidden = !reply;
  $('reply-hint').hidden = !reply || state.resolving;
  $('resolve').hidden = !resolve;
  $('actions').hidden = !(reply || resolve) || state.resolving;
  $('resolve-form').hidden = !state.resolving;
  for (const id of ['reply', 'resolve', 'resolve-confirm', 'resolve-cancel', 'resolve-note']) $(id).disabled = state.busy;
  $('resolve-confirm').textContent = state.busy ? t('actions.saving') : t('actions.resolve_confirm');
  $('app').setAttribute('aria-busy', String(state.busy));
}

function notEscalatedText() {
  const quoted = state.phrases.map((phrase) => t('phrase_quoted', { phrase }));
  return t('not_escalated', { phrases: translator.either(quoted) });
}

async function render() {
  const { escalation } = state;
  $('loading').hidden = true;
  $('not-escalated').hidden = escalation !== null;
  $('not-escalated').textContent = notEscalatedText();
  $('escalation').hidden = escalation === null;
  if (escalation) {
    const [requestedBy, acknowledgedBy] = await Promise.all([
      userProfile(escalation.requestedBy || state.requesterId),
      userProfile(escalation.acknowledgedBy),
    ]);
    const people = { requestedBy, acknowledgedBy };
    const key = JSON.stringify([escalation, people]);
    if (key !== state.renderedKey) {
      state.renderedKey = key;
      buildDetails(escalation, people);
    }
    updateCountdown();
  }
  updateActions();
  resize();
}

// ---- refreshing --------------------------------------------------------------------------

let refreshing = null;
let refreshAgain = false;

/** Re-read the ticket; calls arriving during a read are folded into one more read. */
function refresh() {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      refreshAgain = false;
      state.fromEditor = await readFromEditor();
      state.escalation = newerEscalation(state.fromEditor, state.fromApi);
      await render();
    } while (refreshAgain);
  })()
    .catch(showLoadFailure)
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

function showLoadFailure(error) {
  $('loading').hidden = true;
  $('app').setAttribute('aria-busy', 'false');
  if (error instanceof MissingFieldsError && error.none) showAlert(t('errors.not_set_up'));
  else if (error instanceof MissingFieldsError) showAlert(t('errors.fields_missing', { titles: error.titles.join(', ') }));
  else showAlert(t('errors.load'));
  resize();
}

// ---- manager actions ------------------------------------------------------------------------

/**
 * Acknowledge by contacting the customer: open a public reply in the ticket's
 * editor with a first line in the customer's language. Nothing is written
 * here; once the manager sends the reply, Zendesk emails the customer and the
 * escalation service records the acknowledgement (who, when) from it. So the
 * customer's "A Support Manager has replied" is always true.
 */
async function openReply() {
  clearMessages();
  try {
    const customer = await userProfile(state.escalation.requestedBy || state.requesterId);
    const strings = await loadStrings(state.requesterLocale);
    const firstName = customer && customer.name ? customer.name.split(/\s+/)[0] : '';
    const draft = (strings.reply_draft || t('reply_draft'))
      .replace('{{name}}', firstName)
      .replace('{{manager}}', state.currentUser.name);
    await state.client.set('comment.type', 'publicReply');
    await state.client.invoke('comment.appendText', draft);
    showStatus(t('done.reply_opened'));
  } catch (failure) {
    console.error('the reply could not be opened', failure);
    showAlert(t('errors.reply'));
  }
}

function alreadyMessage(escalation) {
  return statusRank(escalation) >= 2 ? t('errors.already_resolved') : t('errors.conflict');
}

/**
 * Resolve: read the ticket, check the action still applies, write with
 * Zendesk's collision protection, and on a stale stamp (409) read again and
 * retry once.
 */
async function resolveEscalation(resolutionNote) {
  if (state.busy) return false;
  state.busy = true;
  clearMessages();
  updateActions();
  const agent = state.currentUser;
  try {
    for (let attempt = 1; ; attempt += 1) {
      const ticket = await readFromApi();
      state.fromApi = escalationFromApiTicket(ticket);
      if (!canResolve(state.fromApi)) {
        state.escalation = newerEscalation(state.fromEditor, state.fromApi);
        showAlert(alreadyMessage(state.fromApi));
        return false;
      }
      const body = resolutionUpdate({
        ids: state.ids,
        nowMs: Date.now(),
        noteBody: t('notes.resolved', { name: agent.name, note: resolutionNote }),
        updatedStamp: ticket.updated_at,
      });
      try {
        const response = await state.client.request({
          url: `/api/v2/tickets/${state.ticketId}.json`,
          type: 'PUT',
          contentType: 'application/json',
          data: JSON.stringify(body),
        });
        const saved = response && response.ticket ? response.ticket : await readFromApi();
        state.fromApi = escalationFromApiTicket(saved);
        state.escalation = newerEscalation(state.fromEditor, state.fromApi);
        showStatus(t('done.resolved'));
        return true;
      } catch (failure) {
        if (describeFailure(failure).status === 409 && attempt < 2) continue;
        throw failure;
      }
    }
  } catch (failure) {
    const described = describeFailure(failure);
    // No HTTP answer at all: keep the cause for whoever opens the console.
    if (described.status === 0) console.error('escalation update failed', failure);
    showAlert(t(failureMessageKey(described), { detail: described.detail }));
    return false;
  } finally {
    state.busy = false;
    await render();
  }
}

function openResolveForm() {
  state.resolving = true;
  clearMessages();
  updateActions();
  resize();
  $('resolve-note').focus();
}

function closeResolveForm() {
  state.resolving = false;
  setNoteError('');
  updateActions();
  resize();
  if (!$('resolve').hidden) $('resolve').focus();
}

function setNoteError(message) {
  $('resolve-field').classList.toggle('c-field--error', Boolean(message));
  $('resolve-note').setAttribute('aria-invalid', String(Boolean(message)));
  $('resolve-note-error').textContent = message;
  $('resolve-note-error').hidden = !message;
}

async function submitResolution(event) {
  event.preventDefault();
  const note = $('resolve-note').value.trim();
  if (!note) {
    setNoteError(t('actions.note_required'));
    resize();
    $('resolve-note').focus();
    return;
  }
  setNoteError('');
  if (await resolveEscalation(note)) {
    $('resolve-note').value = '';
    state.resolving = false;
    updateActions();
    resize();
  }
}

function bindControls() {
  $('reply').addEventListener('click', openReply);
  $('resolve').addEventListener('click', openResolveForm);
  $('resolve-cancel').addEventListener('click', closeResolveForm);
  $('resolve-form').addEventListener('submit', submitResolution);
  new ResizeObserver(resize).observe(document.body);
}

// ---- start -----------------------------------------------------------------------------------

/** The app's settings, as the admin set them at install (the manifest's defaults otherwise). */
async function readSettings(client) {
  try {
    const metadata = await client.metadata();
    return (metadata && metadata.settings) || {};
  } catch {
    return {};
  }
}

async function start() {
  const client = typeof ZAFClient === 'undefined' ? null : ZAFClient.init();
  if (!client) {
    translator = await loadTranslator(navigator.language);
    $('loading').hidden = true;
    $('app').setAttribute('aria-busy', 'false');
    showStatus(t('outside_zendesk'));
    return;
  }
  state.client = client;
  try {
    const [context, settings] = await Promise.all([
      client.get(['currentUser', 'ticket.id', 'ticket.requester.id', 'ticket.requester.locale']),
      readSettings(client),
    ]);
    state.currentUser = context.currentUser;
    state.ticketId = context['ticket.id'];
    state.requesterId = context['ticket.requester.id'] ? String(context['ticket.requester.id']) : '';
    state.requesterLocale = context['ticket.requester.locale'] || '';
    state.manager = isManager(state.currentUser, settings.managers_group || DEFAULT_MANAGERS_GROUP);
    translator = await loadTranslator(state.currentUser && state.currentUser.locale);
    state.phrases = phrasesFor(state.currentUser && state.currentUser.locale, parsePhrases(settings.escalation_phrases));
    bindControls();
    resize();

    await findFields();

    const update = () => refresh();
    client.on('ticket.tags.changed', update);
    for (const id of Object.values(state.ids)) client.on(`ticket.custom_field_${id}.changed`, update);
    client.on('ticket.updated', update);
    client.on('app.activated', update);

    await refresh();
    setInterval(updateCountdown, COUNTDOWN_EVERY_MS);
  } catch (error) {
    if (!translator) translator = await loadTranslator(navigator.language);
    showLoadFailure(error);
  }
}

start();
