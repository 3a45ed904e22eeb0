// What the sidebar and the dashboard share on the page: their strings in the
// reader's language, dates and durations in the reader's locale, and building
// elements. Text from Zendesk only ever reaches the page as text nodes.

import { parseTime, pickLocale, splitDuration } from './escalation.js';

/** An element with attributes and children; string children become text nodes. */
export function el(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(...[].concat(children).filter((child) => child !== null && child !== undefined));
  return node;
}

async function fetchJson(path) {
  const response = await fetch(path, { credentials: 'same-origin' });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function merged(base, over) {
  const result = { ...base };
  for (const [key, value] of Object.entries(over)) {
    result[key] = isObject(value) && isObject(base[key]) ? merged(base[key], value) : value;
  }
  return result;
}

/** Strings and formats for one reader. */
export class Translator {
  constructor(strings, locale, dateLocale) {
    this.strings = strings;
    this.locale = locale;
    this.dateLocale = dateLocale;
    this.formatters = new Map(); // "kind locale options" → Intl formatter
  }

  /** One Intl formatter per kind, locale and options, built on first use: building one costs far more than using it. */
  formatter(kind, locale, options = {}) {
    const key = `${kind} ${locale} ${JSON.stringify(options)}`;
    let found = this.formatters.get(key);
    if (!found) {
      found = new Intl[kind](locale, options);
      this.formatters.set(key, found);
    }
    return found;
  }

  lookup(key) {
    return key.split('.').reduce((node, part) => (isObject(node) ? node[part] : undefined), this.strings);
  }

  /** A translated string with {{placeholders}} filled in; plural forms picked by `count`. */
  t(key, params = {}) {
    let value = this.lookup(key);
    if (isObject(value) && 'count' in params) {
      value = value[this.formatter('PluralRules', this.locale).select(params.count)] ?? value.other;
    }
    if (typeof value !== 'string') return key;
    return value.replace(/\{\{(\w+)\}\}/g, (match, name) => (name in params ? String(params[name]) : match));
  }

  /** A date and time with its time zone named (the reader's own): "Nov 27, 2026, 8:14 PM UTC". */
  time(iso) {
    const ms = parseTime(iso);
    if (ms === null) return iso;
    const options = { year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZoneName: 'short' };
    return this.formatter('DateTimeFormat', this.dateLocale, options).format(ms);
  }

  /** The reader's time zone by its name in their language ("Central European Standard Time"), at `ms`. */
  zoneName(ms) {
    const parts = this.formatter('DateTimeFormat', this.dateLocale, { timeZoneName: 'long' }).formatToParts(ms);
    const zone = parts.find((part) => part.type === 'timeZoneName');
    return zone ? zone.value : Intl.DateTimeFormat().resolvedOptions().timeZone;
  }

  /** A short date and time for tables: the year only when it is not the current one. */
  shortTime(iso, nowMs) {
    const ms = parseTime(iso);
    if (ms === null) return iso;
    const sameYear = new Date(ms).getFullYear() === new Date(nowMs).getFullYear();
    const options = { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' };
    return this.formatter('DateTimeFormat', this.dateLocale, sameYear ? options : { ...options, year: 'numeric' }).format(ms);
  }

  day(ms) {
    return this.formatter('DateTimeFormat', this.dateLocale, { month: 'short', day: 'numeric', timeZone: 'UTC' }).format(ms);
  }

  duration(totalMinutes) {
    if (totalMinutes < 1) return this.t('duration.under_a_minute');
    const { days, hours, minutes } = splitDuration(totalMinutes);
    if (days) return hours ? this.t('duration.days_hours', { days, hours }) : this.t('duration.days', { days });
    if (hours) return minutes ? this.t('duration.hours_minutes', { hours, minutes }) : this.t('duration.hours', { hours });
    return this.t('duration.minutes', { minutes });
  }

  number(value, options = {}) {
    return this.formatter('NumberFormat', this.dateLocale, options).format(value);
  }

  /** "a, b or c" in the reader's language. */
  either(items) {
    return this.formatter('ListFormat', this.locale, { type: 'disjunction' }).format(items);
  }

  /** Fill every [data-i18n] element under `root` with its string. */
  fill(root) {
    for (const node of root.querySelectorAll('[data-i18n]')) node.textContent = this.t(node.dataset.i18n);
  }
}

/**
 * The sidebar's strings for another reader, a customer say (pt-BR, then pt, then
 * the default); empty when they cannot be read.
 */
export async function loadStrings(userLocale) {
  try {
    const index = await fetchJson('i18n/locales.json');
    return await fetchJson(`i18n/${pickLocale(userLocale, index.locales, index.default)}.json`);
  } catch {
    return {};
  }
}

/**
 * The strings for the reader's locale (pt-BR, then pt, then the default), read
 * from `files` ("i18n/{locale}.json", …; a later file wins on the same key).
 * Missing files leave the keys showing rather than breaking the page.
 */
export async function loadTranslator(userLocale, files = ['i18n/{locale}.json']) {
  let locale = 'en';
  let strings = {};
  try {
    const index = await fetchJson('i18n/locales.json');
    locale = pickLocale(userLocale, index.locales, index.default);
    for (const file of files) {
      let part;
      try {
        part = await fetchJson(file.replace('{locale}', locale));
      } catch {
        part = await fetchJson(file.replace('{locale}', index.default));
      }
      strings = merged(strings, part);
    }
  } catch {
    strings = {};
  }
  document.documentElement.lang = locale;
  const supported = typeof userLocale === 'string' ? Intl.DateTimeFormat.supportedLocalesOf(userLocale) : [];
  const translator = new Translator(strings, locale, supported[0] || locale);
  translator.fill(document);
  return translator;
}
