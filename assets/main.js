// The ticket sidebar: reads the escalation from the agent's ticket through the
// ZAF client, shows it, and lets managers acknowledge or resolve it through
// Zendesk's own API as the signed-in agent. Customer text only ever reaches the
// page as text nodes (textContent / append of strings), never as markup.

import {
  DEFAULT_MANAGERS_GROUP,
  DEFAULT_PHRASE,
  canAcknowledge,
  canResolve,
  describeFailure,
  failureMessageKey,
  isManager,
  isOverdue,
  newerEscalation,
  parsePhrases,
  phrasesFor,
  readEscalation,
  responseState,
  statusRank,
  tagsForAgents,
  ticketUpdate,
  valuesFromApiTicket,
} from './escalation.js';
import { el, loadTranslator } from './ui.js';
import { MissingFieldsError, lookUpFieldIds } from './zendesk.js';

const COUNTDOWN_EVERY_MS = 30_000;

const $ = (id) => document.getElementById(id);

const state = {
  client: null,
  ticketId: null,
  currentUser: null,
  manager: false, // may acknowledge and resolve (the managers' group or an admin)
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

const userNames = new Map();

function userName(id) {
  if (!id) return Promise.resolve('');
  if (!userNames.has(id)) {
    const lookup = state.client
      .request({ url: `/api/v2/users/${id}.json`, type: 'GET' })
      .then((response) => (response.user && response.user.name) || t('unknown_user', { id }))
      .catch(() => t('unknown_user', { id }));
    userNames.set(id, lookup);
  }
  return userNames.get(id);
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
  if (!escalation.reason.trim()) return [el('p', { class: 'reason reason--empty', id: 'reason' }, t('no_reason'))];
  const reason = el('p', { class: 'reason', id: 'reason' }, escalation.reason);
  const toggle = el('button', { type: 'button', class: 'link-button', id: 'reason-toggle', 'aria-controls': 'reason', hidden: true });
  toggle.addEventListener('click', () => {
    state.reasonExpanded = !state.reasonExpanded;
    applyReasonExpansion();
  });
  return [reason, toggle];
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

function buildDetails(escalation, names) {
  const headline = el('div', { class: 'headline' }, [
    el('span', { class: 'visually-hidden' }, `${t('labels.status')}:`),
    el('span', { class: `c-tag c-tag--pill ${BADGE_COLOURS[escalation.status] || ''}`, id: 'status-badge', 'data-status': escalation.status }, [
      el('span', {}, t(`status.${escalation.status}`)),
    ]),
    el('span', { class: 'c-tag c-tag--pill c-tag--red', id: 'overdue-badge', hidden: true }, [el('span', {}, t('status.overdue'))]),
    el('span', { class: 'countdown', id: 'countdown', hidden: true }),
  ]);

  const facts = [];
  if (escalation.responseDue) facts.push(fact('response_due', [timeElement(escalation.responseDue)]));
  facts.push(fact('reason', reasonContent(escalation)));
  if (escalation.requestedBy || escalation.requestedAt) {
    facts.push(fact('requested', personAt(names.requestedBy, escalation.requestedAt)));
  }
  if (escalation.acknowledgedBy || escalation.acknowledgedAt) {
    facts.push(fact('acknowledged', personAt(names.acknowledgedBy, escalation.acknowledgedAt)));
  }
  if (escalation.resolvedAt) facts.push(fact('resolved', [timeElement(escalation.resolvedAt)]));
  if (escalation.refusedRepeats > 0) {
    facts.push(fact('refused_repeats', t('refused_repeats', { count: escalation.refusedRepeats })));
  }
  const tags = tagsForAgents(escalation, isOverdue(escalation, Date.now()));
  if (tags.length) {
    const items = tags.map((tag) => el('li', { class: 'c-tag' }, [el('span', {}, tag)]));
    facts.push(fact('tags', [el('ul', { class: 'tag-list' }, items)]));
  }

  $('escalation').replaceChildren(headline, el('dl', { class: 'facts' }, facts));
  applyReasonExpansion();
}

/** The live part: the countdown, and the overdue badge once the due time passes. */
function updateCountdown() {
  const node = $('countdown');
  if (!node || !state.escalation) return;
  const now = Date.now();
  $('overdue-badge').hidden = !isOverdue(state.escalation, now);
  const standing = responseState(state.escalation, now);
  node.hidden = standing === null;
  if (standing === null) return;
  const key = { due: 'countdown.due_in', overdue: 'countdown.overdue_by', met: 'countdown.met', missed: 'countdown.missed' }[standing.kind];
  node.textContent = t(key, { duration: translator.duration(standing.minutes) });
  node.dataset.kind = standing.kind;
  node.classList.toggle('is-overdue', standing.kind === 'overdue');
}

function updateActions() {
  const { escalation } = state;
  const acknowledge = state.manager && canAcknowledge(escalation);
  const resolve = state.manager && canResolve(escalation);
  if (!resolve) state.resolving = false;
  $('acknowledge').hidden = !acknowledge;
  $('resolve').hidden = !resolve;
  $('actions').hidden = !(acknowledge || resolve) || state.resolving;
  $('resolve-form').hidden = !state.resolving;
  for (const id of ['acknowledge', 'resolve', 'resolve-confirm', 'resolve-cancel', 'resolve-note']) $(id).disabled = state.busy;
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
    const [requestedBy, acknowledgedBy] = await Promise.all([userName(escalation.requestedBy), userName(escalation.acknowledgedBy)]);
    const names = { requestedBy, acknowledgedBy };
    const key = JSON.stringify([escalation, names]);
    if (key !== state.renderedKey) {
      state.renderedKey = key;
      buildDetails(escalation, names);
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

function actionAllowed(action, escalation) {
  return action === 'acknowledge' ? canAcknowledge(escalation) : canResolve(escalation);
}

function alreadyMessage(escalation) {
  return statusRank(escalation) >= 2 ? t('errors.already_resolved') : t('errors.already_acknowledged');
}

/**
 * Acknowledge or resolve: read the ticket, check the action still applies,
 * write with Zendesk's collision protection, and on a stale stamp (409) read
 * again and retry once.
 */
async function act(action, resolutionNote = '') {
  if (state.busy) return false;
  state.busy = true;
  clearMessages();
  updateActions();
  const agent = state.currentUser;
  try {
    for (let attempt = 1; ; attempt += 1) {
      const ticket = await readFromApi();
      state.fromApi = escalationFromApiTicket(ticket);
      if (!actionAllowed(action, state.fromApi)) {
        state.escalation = newerEscalation(state.fromEditor, state.fromApi);
        showAlert(alreadyMessage(state.fromApi));
        return false;
      }
      const noteBody = action === 'acknowledge'
        ? t('notes.acknowledged', { name: agent.name })
        : t('notes.resolved', { name: agent.name, note: resolutionNote });
      const body = ticketUpdate(action, {
        ids: state.ids,
        nowMs: Date.now(),
        agentId: agent.id,
        noteBody,
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
        showStatus(t(action === 'acknowledge' ? 'done.acknowledged' : 'done.resolved'));
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
  if (await act('resolve', note)) {
    $('resolve-note').value = '';
    state.resolving = false;
    updateActions();
    resize();
  }
}

function bindControls() {
  $('acknowledge').addEventListener('click', async () => {
    await act('acknowledge');
    // The button is gone once acknowledged; keep keyboard focus in the app.
    if (!$('resolve').hidden) $('resolve').focus();
  });
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
    const [context, settings] = await Promise.all([client.get(['currentUser', 'ticket.id']), readSettings(client)]);
    state.currentUser = context.currentUser;
    state.ticketId = context['ticket.id'];
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
