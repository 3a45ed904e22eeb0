// The managers' dashboard (the app's nav bar page): every escalation read
// through the ZAF client as the signed-in manager, from Zendesk's search export
// page by page; the first page is on screen while the rest load. What it read is
// kept in the browser's storage, per agent, so a later showing reads only the
// escalations changed since (and checks the total with one count). What to
// show is decided in dashboard-model.js; this file reads, draws and links.
// Text from tickets only ever reaches the page as text nodes.

import {
  ESCALATED_COUNT,
  ESCALATED_TICKETS,
  FULL_READ_EVERY_MS,
  WEEKS_SHOWN,
  changedTicketsQuery,
  keptState,
  newestUpdate,
  openEscalations,
  peopleIn,
  resolvedEscalations,
  rowFromTicket,
  timeLeft,
  usableKeptState,
  waitingCounts,
  waitingEscalations,
  weeklyFigures,
} from './dashboard-model.js';
import { DEFAULT_PHRASE, describeFailure, isOverdue, parsePhrases, phrasesFor, reasonWithoutContactLine, responseState } from './escalation.js';
import { el, loadTranslator } from './ui.js';
import { MissingFieldsError, get, lookUpFieldIds, pages, userNames } from './zendesk.js';

const FIRST_ROWS = 100; // rows per list until "Show all"
const STRING_FILES = ['i18n/{locale}.json', 'i18n/dashboard/{locale}.json'];
const COUNTDOWN_EVERY_MS = 30_000;
const REASON_CHARS = 140;
const KEPT_PREFIX = 'escalation-requests:dashboard:v1';

// Zendesk Garden's palette. Each series of a chart has its own colour and its own line or mark.
const GARDEN = {
  blue: '#1f73b7',
  orange: '#c4571d',
  grey: '#68737d',
  gridGrey: '#e9ebed',
  green: '#038153',
  yellow: '#ad5918',
  text: '#2f3941',
};
const AXIS_FONT = '12px system-ui, -apple-system, "Segoe UI", sans-serif';
const LABEL_FONT = '11px system-ui, -apple-system, "Segoe UI", sans-serif';

const $ = (id) => document.getElementById(id);

const state = {
  client: null,
  localeRead: false, // the signed-in user's locale read (else the browser's stands in)
  keptKey: null, // where this agent's escalations are kept in the browser's storage
  phrases: [DEFAULT_PHRASE],
  ids: null,
  rows: new Map(), // ticket id → row
  ticketIds: new Set(), // every ticket the search found, escalation or not
  readUntil: '', // the newest change read, by Zendesk's clock
  fullReadAt: 0, // when everything was last read
  loading: true,
  reading: false, // a read (fields, then escalations) is under way
  names: new Map(), // user id → name, or null once Zendesk did not know the user
  asked: new Set(), // user ids whose names were asked for
  showAll: { waiting: false, open: false, resolved: false },
  charts: new Map(), // chart key → uPlot instance
  chartData: '',
};

let translator = null;
const t = (key, params) => (translator ? translator.t(key, params) : key);

// ---- what each chart shows -------------------------------------------------------------------

const count = (value) => translator.number(value, { maximumFractionDigits: 0 });
const hours = (value) => t('charts.hours', { hours: translator.number(value, { maximumFractionDigits: 1 }) });
const share = (value) => translator.number(value, { style: 'percent', maximumFractionDigits: 0 });

const CHARTS = [
  {
    key: 'requested',
    bars: true,
    format: count,
    series: [{ figure: 'requested', label: 'charts.requested.series', colour: GARDEN.blue }],
  },
  {
    key: 'acknowledge',
    format: hours,
    series: [
      { figure: 'acknowledgeP50', label: 'charts.acknowledge.p50', colour: GARDEN.blue, points: 'filled' },
      { figure: 'acknowledgeP90', label: 'charts.acknowledge.p90', colour: GARDEN.orange, dash: [8, 4], points: 'hollow' },
      { figure: 'allowed', label: 'charts.acknowledge.allowed', short: 'charts.acknowledge.allowed_short', colour: GARDEN.grey, dash: [2, 3] },
    ],
  },
  {
    key: 'before_due',
    bars: true,
    format: share,
    max: 1,
    series: [{ figure: 'beforeDueShare', label: 'charts.before_due.series', colour: GARDEN.green }],
    extra: { figure: 'decided', label: 'charts.before_due.decided', format: count },
  },
  {
    key: 'refused',
    bars: true,
    format: count,
    series: [{ figure: 'refusedRepeats', label: 'charts.refused.series', colour: GARDEN.yellow }],
  },
];

// ---- what this agent read before -------------------------------------------------------------

function keptKey(context, user) {
  const account = (context && context.account && context.account.subdomain) || 'account';
  return `${KEPT_PREFIX}:${account}:${user && user.id}`;
}

function loadKept() {
  try {
    return JSON.parse(localStorage.getItem(state.keptKey) || 'null');
  } catch {
    return null; // storage unavailable or unreadable: everything is read again
  }
}

function saveKept() {
  const kept = keptState({
    rows: state.rows.values(),
    ticketIds: state.ticketIds,
    names: state.names,
    readUntil: state.readUntil,
    fullReadAt: state.fullReadAt,
    fieldIds: state.ids,
  });
  try {
    localStorage.setItem(state.keptKey, JSON.stringify(kept));
  } catch {
    // Storage full or unavailable: the next showing reads everything again, nothing else changes.
  }
}

function restore(kept) {
  state.rows = new Map(kept.rows.map((row) => [row.ticketId, row]));
  state.ticketIds = new Set(kept.ticketIds);
  state.readUntil = kept.readUntil;
  state.fullReadAt = kept.fullReadAt;
  for (const [id, name] of kept.names) {
    if (!state.names.has(id)) state.names.set(id, name);
    state.asked.add(id);
  }
}

// ---- reading ---------------------------------------------------------------------------------

/** Take in one page of tickets from the search: rows added, replaced or (no escalation any more) dropped. */
function takeIn(rows, ticketIds, tickets) {
  for (const ticket of tickets) {
    ticketIds.add(Number(ticket.id));
    const row = rowFromTicket(ticket, state.ids);
    if (row) rows.set(row.ticketId, row);
    else rows.delete(Number(ticket.id));
  }
}

/**
 * Every escalated ticket, page by page. The first page is drawn at once; later
 * ones after pages 2, 4, 8, 16 … and at the end, so that a long read redraws a
 * few times rather than after every hundred tickets. A read again replaces the
 * rows of the one before once its first page is in (until then those stay on
 * screen); an escalation no longer found is no longer shown.
 */
async function readEverything() {
  const fresh = new Map(); // ticket id → row
  const found = new Set();
  let newest = '';
  let read = 0;
  const startedAt = Date.now();
  state.loading = true;
  try {
    for await (const page of pages(state.client, ESCALATED_TICKETS)) {
      const tickets = page.results || [];
      takeIn(fresh, found, tickets);
      newest = newestUpdate(tickets, newest);
      read += 1;
      state.rows = fresh;
      state.ticketIds = found;
      showProgress();
      if ((read & (read - 1)) === 0) render();
    }
    state.readUntil = newest || new Date(startedAt).toISOString();
    state.fullReadAt = startedAt;
    state.loading = false;
    saveKept();
    showProgress();
    render();
  } catch (failure) {
    state.loading = false;
    const { detail, status } = describeFailure(failure);
    const reason = detail || String(status || '');
    if (status === 0) console.error('reading escalations failed', failure);
    if (read && fresh.size) showAlert(t('errors.partial', { count: count(fresh.size), detail: reason }));
    else showAlert(t('errors.load', { detail: reason }));
    $('progress').textContent = '';
    render();
  }
}

/**
 * Only what changed since the kept read (from a while before it, as search may
 * lag), then one count of the escalated tickets: when it differs from what is
 * kept (an escalation deleted, or its tag removed), everything is read again.
 */
async function readChanges() {
  state.loading = true;
  showProgress();
  try {
    let newest = state.readUntil;
    for await (const page of pages(state.client, changedTicketsQuery(state.readUntil))) {
      const tickets = page.results || [];
      takeIn(state.rows, state.ticketIds, tickets);
      newest = newestUpdate(tickets, newest);
    }
    const counted = await get(state.client, ESCALATED_COUNT);
    if (!counted || counted.count !== state.ticketIds.size) {
      await readEverything();
      return;
    }
    state.readUntil = newest;
    state.loading = false;
    saveKept();
    showProgress();
    render();
  } catch (failure) {
    state.loading = false;
    const { detail, status } = describeFailure(failure);
    if (status === 0) console.error('reading escalations failed', failure);
    showAlert(t('errors.stale', { detail: detail || String(status || '') }));
    showProgress();
    render();
  }
}

async function readEscalations() {
  const kept = state.rows.size ? null : usableKeptState(loadKept(), state.ids, Date.now());
  if (kept) {
    restore(kept);
    render(); // what was kept is on screen at once; the changes follow
  }
  const recent = state.readUntil && Date.now() - state.fullReadAt < FULL_READ_EVERY_MS;
  if (recent) await readChanges();
  else await readEverything();
}

/**
 * Read everything the page shows: the reader's locale and the escalation
 * fields until they are known, then the escalations.
 */
async function load() {
  if (!state.localeRead) {
    const [context, about, metadata] = await Promise.all([
      state.client.get('currentUser'),
      state.client.context(),
      state.client.metadata().catch(() => ({})),
    ]);
    const user = context.currentUser;
    translator = await loadTranslator(user && user.locale, STRING_FILES);
    const settings = (metadata && metadata.settings) || {};
    state.phrases = phrasesFor(user && user.locale, parsePhrases(settings.escalation_phrases));
    state.keptKey = keptKey(about, user);
    $('zone').textContent = t('zone', { zone: translator.zoneName(Date.now()) });
    state.localeRead = true;
  }
  $('progress').textContent = t('loading');
  if (!state.ids) {
    const found = await lookUpFieldIds(state.client);
    if (found.missing.length) throw new MissingFieldsError(found.missing, found.none);
    state.ids = found.ids;
  }
  await readEscalations();
}

/**
 * Read (again), with what went wrong in the alert. Zendesk keeps a nav bar app
 * loaded once it was opened, so this runs on each showing of the page; one
 * read at a time (a showing during a read is left to that read).
 */
async function refresh() {
  if (state.reading) return;
  state.reading = true;
  showAlert('');
  try {
    await load();
  } catch (error) {
    if (!translator) translator = await loadTranslator(navigator.language, STRING_FILES);
    $('dashboard').setAttribute('aria-busy', 'false');
    $('progress').textContent = '';
    if (error instanceof MissingFieldsError && error.none) showAlert(t('errors.not_set_up'));
    else if (error instanceof MissingFieldsError) showAlert(t('errors.fields_missing', { titles: error.titles.join(', ') }));
    else showAlert(t('errors.load', { detail: describeFailure(error).detail }));
  } finally {
    state.reading = false;
  }
}

/**
 * Ask Zendesk for the names the lists show and do not know yet, 100 a call,
 * one batch at a time; each answer fills in the names where they are shown.
 */
let naming = Promise.resolve();
function requestNames(rows) {
  const wanted = peopleIn(rows).filter((id) => !state.asked.has(id));
  if (!wanted.length) return;
  for (const id of wanted) state.asked.add(id);
  naming = naming.then(async () => {
    try {
      const found = await userNames(state.client, wanted);
      for (const id of wanted) state.names.set(id, found.get(id) ?? null);
      saveKept();
    } catch {
      for (const id of wanted) state.names.set(id, null); // shown as "User <id>"
    }
    for (const node of document.querySelectorAll('[data-user]')) node.textContent = personName(node.dataset.user);
  });
}

// ---- drawing -----------------------------------------------------------------------------------

function showAlert(message) {
  $('alert').textContent = message;
}

function showProgress() {
  const total = state.rows.size;
  const shown = count(total);
  $('progress').textContent = state.loading ? t('loading_more', { count: shown }) : t('loaded', { count: total, total: shown });
}

function personName(id) {
  if (!state.names.has(id)) return t('name_loading');
  return state.names.get(id) || t('unknown_user', { id });
}

/** A person's name, filled in when Zendesk has answered. */
function person(id) {
  return id ? el('span', { 'data-user': id }, personName(id)) : '';
}

function timeCell(iso) {
  return iso ? el('time', { datetime: iso, title: translator.time(iso) }, translator.shortTime(iso, Date.now())) : '';
}

function clippedReason(row) {
  const reason = reasonWithoutContactLine(row.reason).replace(/\s+/g, ' ').trim();
  if (!reason) return el('span', { class: 'reason quiet' }, t('no_reason'));
  const shown = reason.length > REASON_CHARS ? `${reason.slice(0, REASON_CHARS - 1)}…` : reason;
  return el('span', { class: 'reason clipped', title: shown }, shown);
}

/** The ticket, its subject, and (in the waiting list) the customer's reason under it. */
function ticketCell(row, withReason) {
  return [
    el('div', { class: 'ticket-line' }, [
      el('button', { type: 'button', class: 'link-button ticket-link', 'data-ticket': row.ticketId, 'aria-label': t('open_ticket', { id: row.ticketId }) }, `#${row.ticketId}`),
      el('span', { class: 'clipped subject', title: row.subject }, row.subject),
    ]),
    withReason ? clippedReason(row) : null,
  ];
}

function timeLeftText(row, now) {
  const minutes = timeLeft(row, now);
  if (minutes === null) return t('time_left.unknown');
  return minutes < 0 ? t('time_left.overdue', { duration: translator.duration(-minutes) }) : t('time_left.left', { duration: translator.duration(minutes) });
}

/** How the reply met the response target, in the sidebar's colours. */
function outcomeOf(row) {
  const standing = responseState(row, Date.now());
  if (!standing || (standing.kind !== 'met' && standing.kind !== 'missed')) return null;
  return el('span', { class: `outcome outcome--${standing.kind}` }, t(`countdown.${standing.kind}`, { duration: translator.duration(standing.minutes) }));
}

function acknowledgedCell(row) {
  if (!row.acknowledgedAt) return el('span', { class: 'quiet' }, t('no_reply'));
  return [person(row.acknowledgedBy), el('span', { class: 'when' }, timeCell(row.acknowledgedAt)), outcomeOf(row)];
}

const LISTS = {
  waiting: [
    { key: 'ticket', cell: (row) => ticketCell(row, true) },
    { key: 'time_left', cell: (row, now) => timeLeftText(row, now) },
    { key: 'customer', cell: (row) => person(row.requestedBy) },
    { key: 'requested', cell: (row) => timeCell(row.requestedAt) },
    { key: 'due', cell: (row) => timeCell(row.responseDue) },
  ],
  open: [
    { key: 'ticket', cell: (row) => ticketCell(row, false) },
    { key: 'customer', cell: (row) => person(row.requestedBy) },
    { key: 'requested', cell: (row) => timeCell(row.requestedAt) },
    { key: 'acknowledged', cell: acknowledgedCell },
  ],
  resolved: [
    { key: 'ticket', cell: (row) => ticketCell(row, false) },
    { key: 'customer', cell: (row) => person(row.requestedBy) },
    { key: 'requested', cell: (row) => timeCell(row.requestedAt) },
    { key: 'acknowledged', cell: acknowledgedCell },
    { key: 'resolved', cell: (row) => timeCell(row.resolvedAt) },
  ],
};

function listRows(kind, now) {
  const rows = [...state.rows.values()];
  if (kind === 'waiting') return waitingEscalations(rows, now);
  return kind === 'open' ? openEscalations(rows) : resolvedEscalations(rows, now);
}

/** One list as a table; keeps the keyboard focus on the same ticket across redraws. */
function renderList(kind, now) {
  const container = $(`${kind}-list`);
  const rows = listRows(kind, now);
  const focused = document.activeElement && container.contains(document.activeElement) ? document.activeElement.dataset.ticket : null;
  if (!rows.length) {
    container.replaceChildren(el('p', { class: 'quiet empty' }, t(`${kind}.empty`)));
    return [];
  }
  const shown = state.showAll[kind] ? rows : rows.slice(0, FIRST_ROWS);
  const columns = LISTS[kind];
  const header = el('tr', {}, columns.map((column) => el('th', { scope: 'col', class: `col-${column.key}` }, t(`columns.${column.key}`))));
  const body = shown.map((row) => {
    const overdue = kind === 'waiting' && isOverdue(row, now);
    return el('tr', { 'data-ticket': row.ticketId, class: overdue ? 'is-overdue' : null }, columns.map((column) => el('td', { class: `col-${column.key}` }, column.cell(row, now))));
  });
  const table = el('table', { class: `escalations escalations--${kind}`, id: `${kind}-table` }, [el('thead', {}, header), el('tbody', {}, body)]);
  const toggle = rows.length > FIRST_ROWS
    ? el('button', { type: 'button', class: 'c-btn c-btn--sm c-btn--basic show-all', 'data-list': kind }, state.showAll[kind] ? t('show_fewer', { count: FIRST_ROWS }) : t('show_all', { count: count(rows.length) }))
    : null;
  container.replaceChildren(...[el('div', { class: 'table-scroll' }, table), toggle].filter(Boolean));
  if (focused) {
    const again = container.querySelector(`[data-ticket="${focused}"] .ticket-link`);
    if (again) again.focus();
  }
  return shown;
}

function renderLists() {
  const now = Date.now();
  const shown = [];
  for (const kind of ['waiting', 'open', 'resolved']) {
    $(kind).hidden = false;
    shown.push(...renderList(kind, now));
  }
  requestNames(shown);
}

function tile(key, value, detail, alarm = false) {
  return el('div', { class: 'tile', 'data-tile': key }, [
    el('div', { class: 'tile__label' }, t(`tiles.${key}`)),
    el('div', { class: 'tile__value' }, value),
    el('div', { class: `tile__detail${alarm ? ' is-overdue' : ''}` }, detail),
  ]);
}

function renderTiles(rows, now, figures) {
  const { waiting, overdue } = waitingCounts(rows, now);
  const none = t('tiles.no_figure');
  const total = figures.total;
  $('tiles').hidden = false;
  $('tiles').setAttribute('aria-label', t('tiles.label'));
  $('tiles').replaceChildren(
    tile('waiting', count(waiting), overdue ? t('tiles.overdue', { count: count(overdue) }) : t('tiles.none_overdue'), overdue > 0),
    tile('before_due', total.beforeDueShare === null ? none : share(total.beforeDueShare), t('tiles.before_due_detail', { count: count(total.decided) })),
    tile(
      'time_to_acknowledge',
      total.acknowledgeP50 === null ? none : translator.duration(Math.round(total.acknowledgeP50 * 60)),
      total.acknowledgeP90 === null ? '' : t('tiles.time_to_acknowledge_detail', { duration: translator.duration(Math.round(total.acknowledgeP90 * 60)) }),
    ),
    tile('refused', count(total.refusedRepeats), t('tiles.refused_detail')),
  );
}

// ---- charts ------------------------------------------------------------------------------------

function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find((candidate) => candidate * magnitude >= value);
  return step * magnitude;
}

/** The label of a week: its Monday, and "so far" for the week still running. */
function weekLabel(figures, index) {
  const day = translator.day(figures.weeks[index]);
  return figures.partial[index] ? t('charts.so_far', { day }) : day;
}

/** The label under a week on the axis: short, the week still running "this week". */
function axisLabel(figures, index) {
  return figures.partial[index] ? t('charts.this_week') : translator.day(figures.weeks[index]);
}

/** The lines of words a bar or a line's point carries: its value, and for a share of how many. */
function pointLines(definition, figures, series, index) {
  const value = figures[series.figure][index];
  if (value === null || value === undefined) return [];
  if (!definition.extra) return [definition.format(value)];
  return [definition.format(value), t('charts.of_count', { count: count(figures[definition.extra.figure][index]) })];
}

function labelFont(ratio, italic = false) {
  return `${italic ? 'italic ' : ''}${LABEL_FONT.replace('11px', `${11 * ratio}px`)}`;
}

/**
 * Labels drawn on the chart itself: on each bar its value (a share also of how
 * many; the week still running in italics), and beside the last point of each
 * line its series' name, moved apart where two would overlap.
 */
function directLabels(definition) {
  return (u) => {
    const figures = u.figures;
    if (!figures) return;
    const { ctx } = u;
    const ratio = window.devicePixelRatio || 1;
    const lineHeight = 13 * ratio;
    ctx.save();
    ctx.textBaseline = 'bottom';
    if (definition.bars) {
      ctx.textAlign = 'center';
      ctx.fillStyle = GARDEN.text;
      definition.series.forEach((series, offset) => {
        u.data[offset + 1].forEach((value, index) => {
          if (value === null || value === undefined) return;
          ctx.font = labelFont(ratio, figures.partial[index]);
          const lines = pointLines(definition, figures, series, index);
          const x = u.valToPos(index, 'x', true);
          const top = u.valToPos(value, 'y', true) - 3 * ratio;
          lines.forEach((line, number) => ctx.fillText(line, x, top - (lines.length - 1 - number) * lineHeight));
        });
      });
      ctx.restore();
      return;
    }
    const ends = definition.series.map((series, offset) => {
      const values = u.data[offset + 1];
      const last = values.map((value, index) => (value === null || value === undefined ? -1 : index)).filter((index) => index >= 0).pop();
      return last === undefined ? null : { series, x: u.valToPos(last, 'x', true), y: u.valToPos(values[last], 'y', true) };
    }).filter(Boolean).sort((a, b) => a.y - b.y);
    for (let index = 1; index < ends.length; index += 1) ends[index].y = Math.max(ends[index].y, ends[index - 1].y + lineHeight);
    ctx.font = labelFont(ratio);
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    for (const end of ends) {
      ctx.fillStyle = end.series.colour;
      ctx.fillText(t(end.series.short || end.series.label), end.x + 8 * ratio, end.y);
    }
    ctx.restore();
  };
}

/** The tooltip under the pointer: the week and every series' value. */
function tooltipHooks(definition, tooltip) {
  return {
    setCursor: [
      (u) => {
        const index = u.cursor.idx;
        const figures = u.figures;
        if (index === null || index === undefined || !figures) {
          tooltip.hidden = true;
          return;
        }
        const lines = definition.series.map((series) => `${t(series.label)}: ${pointLines(definition, figures, series, index).join(' ') || t('charts.no_value')}`);
        tooltip.replaceChildren(el('strong', {}, weekLabel(figures, index)), ...lines.map((line) => el('div', {}, line)));
        tooltip.hidden = false;
        const left = Math.min(Math.max(u.valToPos(index, 'x') + 12, 0), u.over.clientWidth - tooltip.offsetWidth);
        tooltip.style.left = `${left}px`;
      },
    ],
  };
}

function chartOptions(definition, width, figures, tooltip) {
  const labels = figures.weeks.map((_, index) => weekLabel(figures, index));
  const xs = labels.map((_, index) => index);
  const last = labels.length - 1;
  return {
    width,
    height: 220,
    // Room above the bars for their labels, and right of the lines for their names.
    padding: [definition.extra ? 32 : 20, definition.bars ? 16 : 150, 0, 0],
    cursor: { show: true, x: false, y: false, drag: { x: false, y: false }, points: { show: !definition.bars } },
    legend: { show: true, live: false },
    scales: {
      x: { time: false, range: [-0.5, last + 0.5] },
      y: { range: (u, min, max) => [0, definition.max ?? niceCeiling(max * 1.15)] },
    },
    axes: [
      {
        stroke: GARDEN.grey,
        font: AXIS_FONT,
        grid: { show: false },
        ticks: { show: false },
        splits: () => xs,
        // Every other week, ending with the current one, so the labels never collide.
        values: (u, splits) => splits.map((index) => ((last - index) % 2 === 0 ? axisLabel(u.figures, index) : '')),
      },
      {
        stroke: GARDEN.grey,
        font: AXIS_FONT,
        size: 60,
        grid: { stroke: GARDEN.gridGrey, width: 1 },
        ticks: { show: false },
        values: (u, splits) => splits.map((value) => definition.format(value)),
      },
    ],
    series: [
      { label: t('charts.week') },
      ...definition.series.map((series) => ({
        label: t(series.label),
        stroke: series.colour,
        width: definition.bars ? 0 : 2,
        dash: series.dash,
        fill: definition.bars ? series.colour : undefined,
        // A bar of the week still running is paler: its figure is so far.
        paths: definition.bars ? window.uPlot.paths.bars({ size: [0.6, 48], disp: { fill: { values: (u) => partialShades(u, series.colour) } } }) : undefined,
        // The median's points filled, the 90th percentile's hollow, the time allowed none: told apart without colour.
        points: {
          show: Boolean(series.points),
          size: 7,
          fill: series.points === 'filled' ? series.colour : '#fff',
          stroke: series.colour,
          space: 0,
        },
      })),
    ],
    hooks: { draw: [directLabels(definition)], ...tooltipHooks(definition, tooltip) },
  };
}

function partialShades(u, colour) {
  return u.figures.partial.map((partial) => (partial ? `${colour}66` : colour));
}

/** The chart's numbers as a table, for screen readers (the canvas itself is hidden from them). */
function chartTable(definition, figures) {
  const title = t(`charts.${definition.key}.title`);
  const columns = [...definition.series, ...(definition.extra ? [definition.extra] : [])];
  const formatCell = (column, value) => (value === null || value === undefined ? t('charts.no_value') : (column.format || definition.format)(value));
  return el('table', { class: 'visually-hidden chart-table', 'data-chart-table': definition.key }, [
    el('caption', {}, title),
    el('thead', {}, el('tr', {}, [el('th', { scope: 'col' }, t('charts.week')), ...columns.map((column) => el('th', { scope: 'col' }, t(column.label)))])),
    el('tbody', {}, figures.weeks.map((_, index) => el('tr', {}, [
      el('th', { scope: 'row' }, weekLabel(figures, index)),
      ...columns.map((column) => el('td', {}, formatCell(column, figures[column.figure][index]))),
    ]))),
  ]);
}

function renderCharts(figures) {
  const key = JSON.stringify(figures);
  if (key === state.chartData) return;
  state.chartData = key;
  $('charts').hidden = false;
  const grid = $('chart-grid');
  const labels = figures.weeks.map((_, index) => weekLabel(figures, index));
  for (const definition of CHARTS) {
    const data = [labels.map((_, index) => index), ...definition.series.map((series) => figures[series.figure])];
    let figure = grid.querySelector(`[data-chart="${definition.key}"]`);
    let chart = state.charts.get(definition.key);
    if (!figure) {
      const plot = el('div', { class: 'chart-plot', 'aria-hidden': 'true' });
      const tooltip = el('div', { class: 'chart-tooltip', role: 'presentation', hidden: true });
      figure = el('figure', { class: 'chart', 'data-chart': definition.key }, [el('figcaption', {}, t(`charts.${definition.key}.title`)), plot]);
      grid.append(figure);
      chart = new window.uPlot(chartOptions(definition, plot.clientWidth || 480, figures, tooltip), data, (u, init) => {
        u.figures = figures;
        plot.append(u.root);
        init();
        u.over.append(tooltip);
      });
      state.charts.set(definition.key, chart);
    } else {
      chart.figures = figures;
      chart.setData(data);
    }
    const table = chartTable(definition, figures);
    const previous = figure.querySelector('.chart-table');
    if (previous) previous.replaceWith(table);
    else figure.append(table);
  }
}

function fitCharts() {
  for (const [key, chart] of state.charts) {
    const plot = $('chart-grid').querySelector(`[data-chart="${key}"] .chart-plot`);
    if (plot && plot.clientWidth && plot.clientWidth !== chart.width) chart.setSize({ width: plot.clientWidth, height: chart.height });
  }
}

/** No escalation at all: say how they arrive instead of drawing empty charts. */
function renderEmpty(empty) {
  $('empty-state').hidden = !empty;
  for (const id of ['tiles', 'waiting', 'open', 'resolved', 'charts']) if (empty) $(id).hidden = true;
  if (!empty) return;
  const quoted = state.phrases.map((phrase) => t('phrase_quoted', { phrase }));
  $('empty-state').replaceChildren(
    el('h2', {}, t('empty.title')),
    el('p', {}, t('empty.how', { phrases: translator.either(quoted) })),
    el('p', { class: 'quiet' }, t('empty.then')),
  );
}

function render() {
  const now = Date.now();
  const rows = [...state.rows.values()];
  $('dashboard').setAttribute('aria-busy', String(state.loading && rows.length === 0));
  const empty = !state.loading && rows.length === 0 && !$('alert').textContent;
  renderEmpty(empty);
  if (empty || rows.length === 0) return;
  const figures = weeklyFigures(rows, now, WEEKS_SHOWN);
  renderTiles(rows, now, figures);
  renderLists();
  renderCharts(figures);
}

/**
 * The countdown: the time left in the waiting list, in place (no re-sorting
 * under the reader's eyes), and the tiles, whose overdue count moves with it.
 */
function updateTimeLeft() {
  const now = Date.now();
  for (const line of document.querySelectorAll('#waiting-table tbody tr')) {
    const row = state.rows.get(Number(line.dataset.ticket));
    if (!row) continue;
    line.querySelector('.col-time_left').textContent = timeLeftText(row, now);
    line.classList.toggle('is-overdue', isOverdue(row, now));
  }
  if ($('tiles').hidden) return; // nothing drawn yet
  const rows = [...state.rows.values()];
  renderTiles(rows, now, weeklyFigures(rows, now, WEEKS_SHOWN));
}

// ---- start -------------------------------------------------------------------------------------

function bindControls() {
  $('dashboard').addEventListener('click', (event) => {
    const toggle = event.target.closest('.show-all');
    if (toggle) {
      state.showAll[toggle.dataset.list] = !state.showAll[toggle.dataset.list];
      renderLists();
      $(`${toggle.dataset.list}-list`).querySelector('.show-all').focus();
      return;
    }
    const line = event.target.closest('tr[data-ticket]');
    if (line) state.client.invoke('routeTo', 'ticket', Number(line.dataset.ticket));
  });
  new ResizeObserver(fitCharts).observe($('chart-grid'));
}

async function start() {
  const client = typeof ZAFClient === 'undefined' ? null : ZAFClient.init();
  if (!client) {
    translator = await loadTranslator(navigator.language, STRING_FILES);
    $('dashboard').setAttribute('aria-busy', 'false');
    $('progress').textContent = t('outside_zendesk');
    return;
  }
  state.client = client;
  bindControls();
  client.on('app.activated', refresh);
  setInterval(updateTimeLeft, COUNTDOWN_EVERY_MS);
  await refresh();
}

start();
