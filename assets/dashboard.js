// The managers' dashboard (the app's nav bar page): every escalation read
// through the ZAF client as the signed-in manager, from Zendesk's search export
// page by page; the first page is on screen while the rest load. What to show
// is decided in dashboard-model.js; this file reads, draws and links.
// Text from tickets only ever reaches the page as text nodes.

import {
  ESCALATED_TICKETS,
  WEEKS_SHOWN,
  handledEscalations,
  peopleIn,
  rowFromTicket,
  timeLeft,
  waitingCounts,
  waitingEscalations,
  weeklyFigures,
} from './dashboard-model.js';
import { describeFailure, isOverdue, responseState } from './escalation.js';
import { el, loadTranslator } from './ui.js';
import { MissingFieldsError, lookUpFieldIds, pages, userNames } from './zendesk.js';

const FIRST_ROWS = 100; // rows per list until "Show all"
const STRING_FILES = ['i18n/{locale}.json', 'i18n/dashboard/{locale}.json'];
const COUNTDOWN_EVERY_MS = 30_000;
const REASON_CHARS = 140;

// Zendesk Garden's palette.
const GARDEN = {
  blue: '#1f73b7',
  lightBlue: '#5293c7',
  grey: '#68737d',
  gridGrey: '#e9ebed',
  green: '#038153',
  yellow: '#ad5918',
};
const AXIS_FONT = '12px system-ui, -apple-system, "Segoe UI", sans-serif';

const $ = (id) => document.getElementById(id);

const state = {
  client: null,
  localeRead: false, // the signed-in user's locale read (else the browser's stands in)
  ids: null,
  rows: new Map(), // ticket id → row
  loading: true,
  reading: false, // a read (fields, then escalations) is under way
  names: new Map(), // user id → name, or null once Zendesk did not know the user
  asked: new Set(), // user ids whose names were asked for
  showAll: { waiting: false, handled: false },
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
      { figure: 'acknowledgeP50', label: 'charts.acknowledge.p50', colour: GARDEN.blue },
      { figure: 'acknowledgeP90', label: 'charts.acknowledge.p90', colour: GARDEN.lightBlue },
      { figure: 'allowed', label: 'charts.acknowledge.allowed', colour: GARDEN.grey, dash: [6, 4] },
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

// ---- reading ---------------------------------------------------------------------------------

/**
 * Every escalated ticket, page by page. The first page is drawn at once; later
 * ones after pages 2, 4, 8, 16 … and at the end, so that a long read redraws a
 * few times rather than after every hundred tickets. A read again replaces the
 * rows of the one before once its first page is in (until then those stay on
 * screen); an escalation no longer found is no longer shown.
 */
async function readEscalations() {
  const fresh = new Map(); // ticket id → row
  let read = 0;
  state.loading = true;
  try {
    for await (const page of pages(state.client, ESCALATED_TICKETS)) {
      for (const ticket of page.results || []) {
        const row = rowFromTicket(ticket, state.ids);
        if (row) fresh.set(row.ticketId, row);
      }
      read += 1;
      state.rows = fresh;
      showProgress();
      if ((read & (read - 1)) === 0) render();
    }
    state.loading = false;
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
 * Read everything the page shows: the reader's locale and the escalation
 * fields until they are known, then the escalations.
 */
async function load() {
  if (!state.localeRead) {
    const context = await state.client.get('currentUser');
    translator = await loadTranslator(context.currentUser && context.currentUser.locale, STRING_FILES);
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

function ticketCell(row) {
  return [
    el('button', { type: 'button', class: 'link-button ticket-link', 'data-ticket': row.ticketId, 'aria-label': t('open_ticket', { id: row.ticketId }) }, `#${row.ticketId}`),
    el('span', { class: 'clipped subject', title: row.subject }, row.subject),
  ];
}

function reasonCell(row) {
  const reason = row.reason.replace(/\s+/g, ' ').trim();
  if (!reason) return el('span', { class: 'quiet' }, t('no_reason'));
  const shown = reason.length > REASON_CHARS ? `${reason.slice(0, REASON_CHARS - 1)}…` : reason;
  return el('span', { class: 'clipped', title: shown }, shown);
}

function timeLeftText(row, now) {
  const minutes = timeLeft(row, now);
  if (minutes === null) return t('time_left.unknown');
  return minutes < 0 ? t('time_left.overdue', { duration: translator.duration(-minutes) }) : t('time_left.left', { duration: translator.duration(minutes) });
}

function statusCell(row) {
  const colour = { acknowledged: 'c-tag--blue', resolved: 'c-tag--green' }[row.status] || 'c-tag--yellow';
  const standing = responseState(row, Date.now());
  const outcome = standing && (standing.kind === 'met' || standing.kind === 'missed')
    ? el('span', { class: `outcome outcome--${standing.kind}` }, t(`countdown.${standing.kind}`, { duration: translator.duration(standing.minutes) }))
    : null;
  return [el('span', { class: `c-tag c-tag--pill ${colour}` }, [el('span', {}, t(`status.${row.status}`))]), outcome];
}

function personAt(id, iso) {
  if (!iso) return '';
  return [person(id), el('span', { class: 'when' }, timeCell(iso))];
}

const LISTS = {
  waiting: [
    { key: 'ticket', cell: ticketCell },
    { key: 'customer', cell: (row) => person(row.requestedBy) },
    { key: 'reason', cell: reasonCell },
    { key: 'requested', cell: (row) => timeCell(row.requestedAt) },
    { key: 'due', cell: (row) => timeCell(row.responseDue) },
    { key: 'time_left', cell: (row, now) => timeLeftText(row, now) },
  ],
  handled: [
    { key: 'ticket', cell: ticketCell },
    { key: 'customer', cell: (row) => person(row.requestedBy) },
    { key: 'status', cell: statusCell },
    { key: 'requested', cell: (row) => timeCell(row.requestedAt) },
    { key: 'acknowledged', cell: (row) => personAt(row.acknowledgedBy, row.acknowledgedAt) },
    { key: 'resolved', cell: (row) => timeCell(row.resolvedAt) },
  ],
};

function listRows(kind, now) {
  const rows = [...state.rows.values()];
  return kind === 'waiting' ? waitingEscalations(rows, now) : handledEscalations(rows, now);
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
  const table = el('table', { class: 'escalations', id: `${kind}-table` }, [el('thead', {}, header), el('tbody', {}, body)]);
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
  $('waiting').hidden = false;
  $('handled').hidden = false;
  requestNames([...renderList('waiting', now), ...renderList('handled', now)]);
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

function chartOptions(definition, width, labels) {
  const xs = labels.map((_, index) => index);
  const last = labels.length - 1;
  return {
    width,
    height: 200,
    padding: [12, 16, 0, 0],
    cursor: { show: false },
    legend: { show: true, live: false },
    scales: {
      x: { time: false, range: [-0.5, last + 0.5] },
      y: { range: (u, min, max) => [0, definition.max ?? niceCeiling(max)] },
    },
    axes: [
      {
        stroke: GARDEN.grey,
        font: AXIS_FONT,
        grid: { show: false },
        ticks: { show: false },
        splits: () => xs,
        // Every other week, ending with the current one, so the labels never collide.
        values: (u, splits) => splits.map((index) => ((last - index) % 2 === 0 ? labels[index] : '')),
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
        paths: definition.bars ? window.uPlot.paths.bars({ size: [0.6, 48] }) : undefined,
        points: { show: !definition.bars, size: 6, fill: series.colour, stroke: series.colour },
      })),
    ],
  };
}

/** The chart's numbers as a table, for screen readers (the canvas itself is hidden from them). */
function chartTable(definition, figures, labels) {
  const title = t(`charts.${definition.key}.title`);
  const columns = [...definition.series, ...(definition.extra ? [definition.extra] : [])];
  const formatCell = (column, value) => (value === null || value === undefined ? t('charts.no_value') : (column.format || definition.format)(value));
  return el('table', { class: 'visually-hidden chart-table', 'data-chart-table': definition.key }, [
    el('caption', {}, title),
    el('thead', {}, el('tr', {}, [el('th', { scope: 'col' }, t('charts.week')), ...columns.map((column) => el('th', { scope: 'col' }, t(column.label)))])),
    el('tbody', {}, labels.map((label, index) => el('tr', {}, [
      el('th', { scope: 'row' }, label),
      ...columns.map((column) => el('td', {}, formatCell(column, figures[column.figure][index]))),
    ]))),
  ]);
}

function renderCharts(figures) {
  const labels = figures.weeks.map((week) => translator.day(week));
  const key = JSON.stringify([figures, labels]);
  if (key === state.chartData) return;
  state.chartData = key;
  $('charts').hidden = false;
  const grid = $('chart-grid');
  for (const definition of CHARTS) {
    const data = [labels.map((_, index) => index), ...definition.series.map((series) => figures[series.figure])];
    let figure = grid.querySelector(`[data-chart="${definition.key}"]`);
    if (!figure) {
      const plot = el('div', { class: 'chart-plot', 'aria-hidden': 'true' });
      figure = el('figure', { class: 'chart', 'data-chart': definition.key }, [el('figcaption', {}, t(`charts.${definition.key}.title`)), plot]);
      grid.append(figure);
      state.charts.set(definition.key, new window.uPlot(chartOptions(definition, plot.clientWidth || 480, labels), data, plot));
    } else {
      state.charts.get(definition.key).setData(data);
    }
    const table = chartTable(definition, figures, labels);
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

function render() {
  const now = Date.now();
  const rows = [...state.rows.values()];
  const figures = weeklyFigures(rows, now, WEEKS_SHOWN);
  $('dashboard').setAttribute('aria-busy', String(state.loading && rows.length === 0));
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
