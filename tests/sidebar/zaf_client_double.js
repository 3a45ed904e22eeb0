// A stand-in for Zendesk's ZAF SDK (zaf_sdk.min.js), served by the browser tests
// in place of the real script. It behaves like the SDK does towards the app:
// get() resolves {path: value} objects (with an `errors` map for unknown paths,
// and rejects for a single unknown path), request() resolves parsed JSON or
// rejects with {status, statusText, responseText, responseJSON}, and ZAFClient.init()
// returns false outside a Zendesk frame (no origin / app_guid in the URL).
//
// Behind it stands a small Zendesk account built from window.__zafFixture:
// `server` is the ticket as the API stores it, `editor` the ticket as the agent's
// ticket editor shows it (client.get reads it). API writes change the server only,
// as in Zendesk, where the open editor may lag. `searchTickets` are the tickets
// the search export finds and `users` the people show_many knows. The test drives
// it through window.__zaf: inspect requests, fire events, change the editor, queue
// failures, hold requests in flight.
(function installZafClientDouble() {
  const fixture = JSON.parse(JSON.stringify(window.__zafFixture || {}));
  const copy = (value) => JSON.parse(JSON.stringify(value));
  const origin = 'https://example.zendesk.com';

  const server = copy(fixture.ticket || { id: 0, tags: [], custom_fields: [] });
  server.comments = [];
  const editor = copy(fixture.ticket || { id: 0, tags: [], custom_fields: [] });
  const searchTickets = fixture.searchTickets || [];
  const ticketFields = fixture.ticketFields || [];
  const fieldsById = new Map(ticketFields.map((field) => [String(field.id), field]));
  const users = fixture.users || {};
  // Fields that exist in the account but that the editor cannot read (not on the ticket's form).
  const unreadable = new Set((fixture.unreadableFieldIds || []).map(String));
  const failures = copy(fixture.failures || []);
  const handlers = {};
  const requests = [];
  // answers[i]: what request i was answered, {status, body}, for the test to check against Zendesk's spec.
  const answers = [];
  const gets = [];
  const invocations = [];
  // The ticket editor's comment box: its type (publicReply or internalNote) and the text typed so far.
  const composer = { type: 'internalNote', text: '' };
  let gate = null;
  // {path: n}: requests to that path after the first n wait until release().
  const holdAfter = { ...(fixture.holdAfter || {}) };
  const served = {};

  function fieldValue(ticket, id) {
    const field = (ticket.custom_fields || []).find((entry) => String(entry.id) === String(id));
    return field ? field.value : null;
  }

  function setFieldValue(ticket, id, value) {
    const previous = fieldValue(ticket, id);
    const fields = ticket.custom_fields.filter((entry) => String(entry.id) !== String(id));
    fields.push({ id: Number(id), value });
    ticket.custom_fields = fields;
    // A drop-down (tagger) field's value is a tag: Zendesk swaps the tags with it.
    const definition = fieldsById.get(String(id));
    if (definition && definition.type === 'tagger') {
      ticket.tags = ticket.tags.filter((tag) => tag !== previous);
      if (value && !ticket.tags.includes(value)) ticket.tags.push(value);
    }
  }

  function failure(status, body, headers = {}) {
    const statusText = { 400: 'Bad Request', 404: 'Not Found', 409: 'Conflict', 422: 'Unprocessable Entity', 429: 'Too Many Requests', 500: 'Internal Server Error' }[status] || 'Error';
    return { status, statusText, responseText: JSON.stringify(body), responseJSON: body, responseHeaders: copy(headers) };
  }

  // The tickets a search query finds: every `tags:` term among their tags, and updated after an
  // `updated>` time (an ISO time, as the dashboard sends it); `type:ticket` is the only other term.
  function matching(query) {
    const tags = [...query.matchAll(/(?:^|\s)tags:(\S+)/g)].map((match) => match[1]);
    const after = [...query.matchAll(/(?:^|\s)updated>(\S+)/g)].map((match) => Date.parse(match[1]));
    if (after.some(Number.isNaN)) throw failure(400, { error: 'InvalidSearch', description: 'updated> takes a date or an ISO time' });
    return searchTickets.filter((ticket) => tags.every((tag) => (ticket.tags || []).includes(tag))
      && after.every((moment) => Date.parse(ticket.updated_at) > moment));
  }

  // The search export: cursor pages of the tickets the query finds.
  function searchExport(url) {
    const query = url.searchParams.get('query') || '';
    if (/(^|\s)type:/.test(query)) throw failure(400, { error: 'InvalidQuery', description: 'The export takes the type in filter[type], not in the query' });
    if (url.searchParams.get('filter[type]') !== 'ticket') throw failure(400, { error: 'InvalidFilter', description: 'filter[type] is required' });
    const size = Number(url.searchParams.get('page[size]') || 100);
    if (!(size >= 1 && size <= 1000)) throw failure(400, { error: 'InvalidPageSize', description: 'page[size] must be 1 to 1000' });
    const found = matching(query);
    const cursor = url.searchParams.get('page[after]');
    const start = cursor ? Number(atob(cursor).replace('after:', '')) : 0;
    const end = Math.min(start + size, found.length);
    const hasMore = end < found.length;
    const next = new URL(`${origin}/api/v2/search/export.json`);
    if (hasMore) {
      for (const [key, value] of url.searchParams) if (key !== 'page[after]') next.searchParams.set(key, value);
      next.searchParams.set('page[after]', btoa(`after:${end}`));
    }
    return {
      results: found.slice(start, end).map((ticket) => ({ ...copy(ticket), result_type: 'ticket' })),
      meta: { has_more: hasMore, after_cursor: hasMore ? btoa(`after:${end}`) : null, before_cursor: null },
      links: { next: hasMore ? next.toString() : null, prev: null },
    };
  }

  function publicTicket(ticket) {
    const { comments, ...rest } = ticket;
    return copy(rest);
  }

  function nextStamp(stamp) {
    return new Date(Date.parse(stamp) + 60000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  function route(options) {
    const method = (options.type || 'GET').toUpperCase();
    const url = new URL(options.url, origin);
    // A queued failure answers the first matching request, or the one after `after` matching requests.
    const queued = failures.findIndex((entry) => (entry.method || 'PUT').toUpperCase() === method && (!entry.path || entry.path === url.pathname));
    if (queued !== -1 && failures[queued].after > 0) {
      failures[queued].after -= 1;
    } else if (queued !== -1) {
      const [entry] = failures.splice(queued, 1);
      throw failure(entry.status, entry.body || {}, entry.headers);
    }

    if (method === 'GET' && url.pathname === '/api/v2/ticket_fields.json') {
      const size = fixture.fieldsPageSize || Number(url.searchParams.get('page[size]')) || 100;
      const start = Number(url.searchParams.get('page[after]') || 0);
      const page = ticketFields.slice(start, start + size);
      const hasMore = start + size < ticketFields.length;
      return {
        ticket_fields: copy(page),
        meta: { has_more: hasMore, after_cursor: hasMore ? String(start + size) : null },
        links: { next: hasMore ? `${origin}/api/v2/ticket_fields.json?page[after]=${start + size}&page[size]=${size}` : null },
      };
    }

    if (method === 'GET' && url.pathname === '/api/v2/search/export.json') return searchExport(url);
    if (method === 'GET' && url.pathname === '/api/v2/search/count.json') return { count: matching(url.searchParams.get('query') || '').length };

    if (method === 'GET' && url.pathname === '/api/v2/users/show_many.json') {
      const ids = (url.searchParams.get('ids') || '').split(',').filter(Boolean);
      if (ids.length > 100) throw failure(400, { error: 'TooManyIds', description: 'At most 100 ids' });
      return { users: ids.filter((id) => users[id]).map((id) => copy(users[id])) };
    }

    const user = url.pathname.match(/^\/api\/v2\/users\/(\d+)\.json$/);
    if (method === 'GET' && user) {
      if (!users[user[1]]) throw failure(404, { error: 'RecordNotFound', description: 'Not found' });
      return { user: copy(users[user[1]]) };
    }

    if (url.pathname === `/api/v2/tickets/${server.id}.json`) {
      if (method === 'GET') return { ticket: publicTicket(server) };
      if (method === 'PUT') {
        const update = JSON.parse(options.data).ticket;
        if (update.safe_update && update.updated_stamp !== server.updated_at) {
          throw failure(409, {
            error: 'UpdateConflict',
            description: 'Safe Update prevented the update due to outdated ticket data. Please fetch the latest ticket data and try again.',
          });
        }
        for (const field of update.custom_fields || []) setFieldValue(server, field.id, field.value);
        if (update.comment) server.comments.push(copy(update.comment));
        server.updated_at = nextStamp(server.updated_at);
        return { ticket: publicTicket(server), audit: { events: [] } };
      }
    }
    throw failure(404, { error: 'InvalidEndpoint', description: 'Not found' });
  }

  function getOne(path) {
    if (path === 'currentUser') return copy(fixture.currentUser);
    if (path.startsWith('currentUser.')) return fixture.currentUser[path.slice('currentUser.'.length)];
    if (path === 'ticket.id') return editor.id;
    if (path === 'ticket.requester.id') return editor.requester_id ?? null;
    if (path === 'ticket.requester.locale') return fixture.requesterLocale ?? null;
    if (path === 'comment.type') return composer.type;
    if (path === 'comment.text') return composer.text;
    if (path === 'ticket.tags') return [...editor.tags];
    if (path === 'ticket.updatedAt') return editor.updated_at;
    const custom = path.match(/^ticket\.customField:custom_field_(\d+)$/);
    if (custom && fieldsById.has(custom[1]) && !unreadable.has(custom[1])) return fieldValue(editor, custom[1]);
    throw new Error(`"${path}" Could not find a property`);
  }

  const client = {
    get(path) {
      const paths = Array.isArray(path) ? path : [path];
      gets.push(paths);
      const result = { errors: {} };
      for (const one of paths) {
        try {
          result[one] = getOne(one);
        } catch (error) {
          result.errors[one] = { message: error.message };
        }
      }
      if (!Array.isArray(path) && result.errors[path]) return Promise.reject(new Error(result.errors[path].message));
      return Promise.resolve(result);
    },
    on(name, handler) {
      (handlers[name] = handlers[name] || []).push(handler);
    },
    set(path, value) {
      if (path !== 'comment.type' || !['publicReply', 'internalNote'].includes(value)) {
        return Promise.reject(new Error(`"${path}" cannot be set to ${JSON.stringify(value)}`));
      }
      composer.type = value;
      return Promise.resolve({ errors: {}, [path]: value });
    },
    invoke(name, ...args) {
      invocations.push({ name, args: copy(args) });
      if (name === 'comment.appendText') composer.text += String(args[0]);
      return Promise.resolve({ errors: {} });
    },
    request(options) {
      const normalised = typeof options === 'string' ? { url: options } : options;
      const record = { ...copy(normalised), type: (normalised.type || 'GET').toUpperCase(), at: performance.now() };
      if (typeof record.data === 'string') {
        try {
          record.body = JSON.parse(record.data);
        } catch {
          record.body = null;
        }
      }
      const index = requests.push(record) - 1;
      const answer = () => {
        try {
          const body = route(normalised);
          answers[index] = { status: 200, body: copy(body) };
          return Promise.resolve(body);
        } catch (error) {
          answers[index] = { status: error.status, body: error.responseJSON ?? null };
          return Promise.reject(error);
        }
      };
      const path = new URL(normalised.url, origin).pathname;
      served[path] = (served[path] || 0) + 1;
      if (path in holdAfter && served[path] > holdAfter[path] && !gate) window.__zaf.hold();
      return gate ? gate.promise.then(answer) : answer();
    },
    metadata() {
      // The installation's settings, as the admin set them (parameters with their values).
      return Promise.resolve({ appId: 0, installationId: 0, name: 'Escalation Requests', version: '1.0.0', settings: copy(fixture.settings || {}) });
    },
    context() {
      return Promise.resolve({ host: 'zendesk', product: 'support', location: 'ticket_sidebar', ticketId: editor.id, account: { subdomain: 'example' } });
    },
  };

  window.__zaf = {
    requests,
    answers,
    gets,
    invocations,
    server,
    editor,
    composer,
    /** The tickets the search export finds; a test may change them in place. */
    searchTickets,
    /** Fire a framework event, as Zendesk does when the ticket changes. */
    fire(name, data) {
      const list = handlers[name] || [];
      for (const handler of list) handler(data);
      return list.length;
    },
    subscribed: () => Object.keys(handlers),
    /** Change what the agent's ticket editor shows: {tags, fields: {id: value}}. */
    setEditor({ tags, fields }) {
      if (tags) editor.tags = [...tags];
      for (const [id, value] of Object.entries(fields || {})) setFieldValue(editor, id, value);
    },
    /** Change the ticket as stored (as another agent or the escalation service would). */
    setServer({ tags, fields }) {
      if (tags) server.tags = [...tags];
      for (const [id, value] of Object.entries(fields || {})) setFieldValue(server, id, value);
      server.updated_at = nextStamp(server.updated_at);
    },
    failNext(method, status, body, path, headers) {
      failures.push({ method, status, body, path, headers });
    },
    /** Keep requests in flight until release(). */
    hold() {
      let release;
      const promise = new Promise((resolve) => {
        release = resolve;
      });
      gate = { promise, release };
    },
    release() {
      for (const path of Object.keys(holdAfter)) delete holdAfter[path];
      if (gate) gate.release();
      gate = null;
    },
  };

  window.ZAFClient = {
    init() {
      const params = new URLSearchParams(window.location.search);
      if (!params.get('origin') || !params.get('app_guid')) return false;
      return client;
    },
  };
})();
