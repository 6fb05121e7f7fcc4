/*
 * app.js — the page's behaviour: sign-in, upload, the draft's details, the
 * batches with live progress, completion notices, the Creations gallery.
 *
 * DESIGN
 * No framework and no build step: plain DOM code against the REST API of
 * ../shared/design/api.md.  Every API call goes through api(), which adds
 * `Authorization: Bearer <token>` (the token is kept in sessionStorage, so
 * it lasts as long as the tab) and turns an error answer into an Error with
 * the API's code, message and details.  With `auth = none` kilnd answers
 * GET /v1/account without a token, and the page never asks for one.
 * Live progress: the page reads GET /v1/events (text/event-stream) with
 * fetch() and a stream reader, because EventSource cannot send the token;
 * when that route is missing (404) or the stream fails, it polls
 * GET /v1/batches every second while a batch is moving (every 5 s when none
 * is), and tries the stream again later.  Images need the token too, so they
 * are fetched and shown from blob: URLs; the gallery asks for
 * /v1/images/{id}/thumbnail and falls back to the file when that fails.
 * Downloads (the zip, an image) are fetched the same way and saved through
 * an <a download> on a blob: URL.  Progress bars have a fixed size and the
 * counters tabular figures, so nothing moves while they update.
 */
'use strict';

(function () {
  const TOKEN_KEY = 'kiln.token';
  const ACTIVE = new Set(['queued', 'running', 'stopping']);
  const STATE_LABEL = {
    draft: 'Draft', queued: 'Queued', running: 'Running', stopping: 'Stopping',
    stopped: 'Stopped', completed: 'Completed', failed: 'Failed'
  };
  const FIELD_LABEL = {
    visibility: 'Visibility', aspect_ratio: 'Aspect ratio', magic_prompt: 'Magic prompt',
    model: 'Model', seed_number: 'Seed', rendering: 'Rendering', negative_prompt: 'Negative prompt',
    style: 'Style', color_palette: 'Color palette', num_images: 'Images'
  };

  const $ = (id) => document.getElementById(id);
  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    authNone: false,
    account: null,
    draft: null,              // the batch shown in the details panel
    batches: new Map(),       // id -> batch object, as last seen
    order: [],                // ids, newest first
    seenActive: new Set(),    // ids seen queued/running/stopping in this page
    live: 'off',              // 'events' | 'polling' | 'off'
    pollTimer: 0,
    eventsAbort: null,
    scope: 'mine',
    galleryCursor: null,
    galleryUrls: [],
    offline: false,
    started: false
  };

  /* ---- the API ------------------------------------------------------------ */

  class ApiError extends Error {
    constructor(status, body) {
      const e = (body && body.error) || {};
      super(e.message || ('kilnd answered ' + status));
      this.status = status;
      this.code = e.code || 'http_' + status;
      this.details = e.details || [];
      this.body = e;
    }
  }

  function authHeaders(extra) {
    const h = Object.assign({}, extra || {});
    if (state.token && !state.authNone) h.Authorization = 'Bearer ' + state.token;
    return h;
  }

  /* fetch() with the token; resolves to the Response when ok, else throws ApiError. */
  async function apiRaw(path, opts) {
    const o = Object.assign({}, opts || {});
    o.headers = authHeaders(o.headers);
    let r;
    try {
      r = await fetch(path, o);
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, { error: { code: 'network',
        message: 'kilnd did not answer. Is it running? Check the connection and try again.' } });
    }
    if (r.ok) return r;
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    const err = new ApiError(r.status, body);
    if (r.status === 401 && state.account && !opts?.noSignOut) signedOut(err.message);
    throw err;
  }

  async function api(path, opts) {
    const r = await apiRaw(path, opts);
    if (r.status === 204) return null;
    return r.json();
  }

  /* ---- small helpers ------------------------------------------------------ */

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v === true) e.setAttribute(k, '');
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function fmt(n) { return Number(n || 0).toLocaleString('en-US'); }

  function plural(n, one, many) { return fmt(n) + ' ' + (n === 1 ? one : (many || one + 's')); }

  function eta(s) {
    if (s === null || s === undefined) return '';
    if (s < 60) return 'about ' + Math.max(1, Math.round(s)) + ' s left';
    const m = Math.round(s / 60);
    return m < 60 ? 'about ' + m + ' min left' : 'about ' + Math.round(m / 60) + ' h left';
  }

  function notice(text, kind, action) {
    const box = el('div', { class: 'notice ' + (kind || '') },
      el('p', { text }),
      action || null,
      el('button', { type: 'button', class: 'link-button', 'aria-label': 'Dismiss this notice',
        onclick: (ev) => ev.target.closest('.notice').remove() }, 'Dismiss'));
    $('notices').append(box);
    if (kind !== 'done') setTimeout(() => box.remove(), 8000);
    return box;
  }

  /* Saves a Response's body under name through an <a download> on a blob: URL. */
  async function saveResponse(r, name) {
    const blob = await r.blob();
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  function zipName(b) {
    const n = (b.name || 'batch').replace(/\.[A-Za-z0-9]{1,5}$/, '');
    return n + '.zip';
  }

  /* ---- sign-in ------------------------------------------------------------ */

  function show(id, on) { $(id).hidden = !on; }

  function signedOut(message) {
    stopLive();
    state.account = null;
    state.token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    // nothing of this account stays on the page
    state.batches.clear();
    state.order = [];
    state.seenActive.clear();
    showDetails(null);
    showErrors(null);
    $('upload-status').textContent = '';
    $('batch-list').replaceChildren();
    $('gallery').replaceChildren();
    for (const u of state.galleryUrls) URL.revokeObjectURL(u);
    state.galleryUrls = [];
    $('notices').replaceChildren();
    show('app', false);
    show('account', false);
    show('signin', true);
    $('signin-error').textContent = message ? 'Signed out: ' + message : '';
  }

  async function trySignIn(token) {
    const saved = state.token;
    state.token = token;
    try {
      const acc = await api('/v1/account', { noSignOut: true });
      sessionStorage.setItem(TOKEN_KEY, token);
      return acc;
    } catch (e) {
      state.token = saved;
      throw e;
    }
  }

  async function boot() {
    // auth = none: the account answers without a token
    try {
      const r = await fetch('/v1/account');
      if (r.ok) {
        state.authNone = true;
        signedIn(await r.json());
        return;
      }
    } catch (e) {
      $('connecting').textContent = 'kilnd did not answer. Is it running? Reload the page to try again.';
      return;
    }
    if (state.token) {
      try {
        signedIn(await trySignIn(state.token));
        return;
      } catch (e) {
        sessionStorage.removeItem(TOKEN_KEY);
        state.token = '';
      }
    }
    show('connecting', false);
    show('signin', true);
    $('token').focus();
  }

  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = $('token').value.trim();
    const err = $('signin-error');
    $('token').removeAttribute('aria-invalid');
    if (!token) {
      err.textContent = 'Enter a token first.';
      $('token').setAttribute('aria-invalid', 'true');
      $('token').focus();
      return;
    }
    err.textContent = '';
    try {
      const acc = await trySignIn(token);
      $('token').value = '';
      signedIn(acc);
    } catch (e) {
      $('token').setAttribute('aria-invalid', 'true');
      err.textContent = e.status === 401
        ? 'This token was not accepted. Check that you copied all of it (the admin\'s is in ' +
          '<data_dir>/admin.token) and try again.'
        : e.message;
      $('token').focus();
      $('token').select();
    }
  });

  $('sign-out').addEventListener('click', () => signedOut(''));

  function signedIn(acc) {
    showAccount(acc);
    show('connecting', false);
    show('signin', false);
    show('app', true);
    $('sign-out').hidden = state.authNone;
    if (!state.started) {
      state.started = true;
      setupDrop();
    }
    refreshBatches().then(startLive);
    loadGallery(true);
  }

  function showAccount(acc) {
    state.account = acc;
    $('account-name').textContent = acc.name + (state.authNone ? ' (no sign-in needed)' : '');
    $('account-credits').textContent = fmt(acc.credits_available);
    show('account', true);
  }

  async function refreshAccount() {
    try { showAccount(await api('/v1/account')); } catch (e) { /* the next refresh tries again */ }
  }

  /* ---- upload ------------------------------------------------------------- */

  function setupDrop() {
    const zone = $('drop-zone');
    let depth = 0;
    document.addEventListener('dragenter', (ev) => {
      if (!ev.dataTransfer || !Array.from(ev.dataTransfer.types).includes('Files')) return;
      depth++;
      document.body.classList.add('dragging');
    });
    document.addEventListener('dragleave', () => {
      depth = Math.max(0, depth - 1);
      if (!depth) document.body.classList.remove('dragging');
    });
    document.addEventListener('dragover', (ev) => { ev.preventDefault(); });
    document.addEventListener('drop', (ev) => {
      ev.preventDefault();
      depth = 0;
      document.body.classList.remove('dragging');
      const f = ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0];
      if (!f || $('app').hidden) return;
      zone.classList.add('dropped');
      setTimeout(() => zone.classList.remove('dropped'), 600);
      upload(f, null);
    });
  }

  $('file').addEventListener('change', () => {
    const f = $('file').files[0];
    $('file').value = '';
    if (f) upload(f, null);
  });

  $('replace').addEventListener('click', () => $('replace-file').click());
  $('replace-file').addEventListener('change', () => {
    const f = $('replace-file').files[0];
    $('replace-file').value = '';
    if (f && state.draft) upload(f, state.draft.id);
  });

  /* Uploads a file: a new draft, or the replacement of draft replaceId. */
  async function upload(file, replaceId) {
    const status = $('upload-status');
    status.textContent = 'Reading ' + file.name + '…';
    document.body.classList.add('busy');
    const form = new FormData();
    form.append('file', file, file.name);
    try {
      const b = replaceId
        ? await api('/v1/batches/' + replaceId + '/spreadsheet', { method: 'PUT', body: form })
        : await api('/v1/batches', { method: 'POST', body: form });
      status.textContent = file.name + ' is read: ' + plural(b.rows, 'row') + ', ' +
        plural(b.images_total, 'image') + '. Check the details below, then start.';
      showErrors(null);
      showDetails(b);
      upsertBatch(b);
      renderBatches();
      $('details').focus();
    } catch (e) {
      if (e.code === 'invalid_spreadsheet' && e.details.length) {
        status.textContent = file.name + ' was not accepted: fix the problems listed below.';
        showErrors(e, file.name);
      } else {
        status.textContent = '';
        showErrors(e, file.name);
      }
      $('errors').focus();
    } finally {
      document.body.classList.remove('busy');
    }
  }

  function showErrors(e, name) {
    const tbody = $('errors-table').querySelector('tbody');
    tbody.replaceChildren();
    if (!e) { show('errors', false); return; }
    const d = e.details || [];
    $('errors-title').textContent = d.length
      ? plural(d.length, 'problem') + ' in ' + name
      : name + ' was not accepted';
    let summary = d.length ? 'Fix each cell listed below in your spreadsheet, save it, and upload it again.'
      : (e.message || '');
    if (e.code === 'payload_too_large') summary += ' Split the file into smaller ones.';
    if (e.code === 'unsupported_media_type') summary += ' Save it as .csv, .xlsx, .xls or .ods.';
    $('errors-summary').textContent = summary;
    $('errors-table').hidden = d.length === 0;
    const max = 1000;
    for (const p of d.slice(0, max)) {
      const fix = el('td', { class: 'fix' }, el('span', { text: p.message || '' }));
      if (p.hint) fix.append(el('span', { class: 'hint', text: p.hint }));
      tbody.append(el('tr', null,
        el('td', { class: 'num', text: p.row === undefined || p.row === null ? '—' : String(p.row) }),
        el('td', { text: p.column || '—' }),
        el('td', { class: 'cell', text: p.cell || '—' }),
        el('td', { class: 'value' }, p.value === undefined || p.value === null || p.value === ''
          ? el('span', { class: 'muted', text: '(empty)' }) : el('code', { text: String(p.value) })),
        fix));
    }
    if (d.length > max) {
      tbody.append(el('tr', null, el('td', { colspan: '5', text: 'and ' + fmt(d.length - max) +
        ' more of the same kinds.' })));
    }
    show('errors', true);
  }

  /* ---- the details of a draft --------------------------------------------- */

  function fieldRows(dl, fields, extra) {
    dl.replaceChildren();
    const add = (k, v) => dl.append(el('div', null, el('dt', { text: k }), el('dd', { text: v })));
    for (const [k, label] of Object.entries(FIELD_LABEL)) {
      if (!fields || !(k in fields)) continue;
      let v = fields[k];
      if (v === null || v === '') v = k === 'seed_number' ? 'random' : '—';
      add(label, String(v));
    }
    for (const [k, v] of extra || []) add(k, v);
  }

  function showDetails(b) {
    state.draft = b;
    if (!b) { show('details', false); return; }
    $('details-name').textContent = b.name;
    $('d-rows').textContent = fmt(b.rows);
    $('d-images').textContent = fmt(b.images_total);
    $('d-required').textContent = fmt(b.credits_required);
    const avail = b.credits_available !== undefined ? b.credits_available
      : (state.account ? state.account.credits_available : 0);
    $('d-available').textContent = fmt(avail);
    const p = b.preview || { row: '', fields: {} };
    $('d-preview-row').textContent = p.row;
    $('d-prompt').textContent = (p.fields && p.fields.prompt) || '';
    fieldRows($('d-fields'), p.fields);
    const w = b.warnings || [];
    const wl = $('d-warnings-list');
    wl.replaceChildren(...w.map((x) => {
      const where = x.cell || (x.row ? 'row ' + x.row : '');
      const msg = x.message || '';
      return el('li', null, el('span', { text: where && !msg.includes(where) ? where + ': ' + msg : msg }),
        x.hint ? el('span', { class: 'hint', text: x.hint }) : null);
    }));
    show('d-warnings', w.length > 0);
    const short = b.credits_required > avail;
    $('start').disabled = short;
    $('start-reason').textContent = short
      ? 'Not enough credits: this batch needs ' + fmt(b.credits_required) + ' and you have ' +
        fmt(avail) + '. Ask the admin for ' + fmt(b.credits_required - avail) +
        ' more, or upload a file with fewer rows.'
      : '';
    show('details', true);
  }

  $('start').addEventListener('click', async () => {
    const b = state.draft;
    if (!b) return;
    if ('Notification' in window && Notification.permission === 'default') {
      try { Notification.requestPermission(); } catch (e) { /* not offered here */ }
    }
    $('start').disabled = true;
    try {
      const nb = await api('/v1/batches/' + b.id + '/start', { method: 'POST' });
      showDetails(null);
      $('upload-status').textContent = '';
      upsertBatch(nb);
      renderBatches();
      refreshAccount();
      kickLive();
      const row = document.querySelector('[data-batch="' + nb.id + '"]');
      if (row) row.querySelector('h3').focus();
    } catch (e) {
      $('start').disabled = false;
      $('start-reason').textContent = e.code === 'insufficient_credits'
        ? 'Not enough credits: this batch needs ' + fmt(e.body.required) + ' and you have ' +
          fmt(e.body.available) + '. Ask the admin for more, or upload a file with fewer rows.'
        : e.message;
      if (e.code === 'insufficient_credits') $('start').disabled = true;
    }
  });

  $('discard').addEventListener('click', async () => {
    const b = state.draft;
    if (!b) return;
    try {
      await api('/v1/batches/' + b.id, { method: 'DELETE' });
      state.batches.delete(b.id);
      state.order = state.order.filter((x) => x !== b.id);
      showDetails(null);
      $('upload-status').textContent = b.name + ' was discarded.';
      renderBatches();
      $('upload-label').focus();
    } catch (e) {
      notice(e.message, 'error');
    }
  });

  /* ---- the batches -------------------------------------------------------- */

  function upsertBatch(b) {
    const old = state.batches.get(b.id);
    if (old && (old.state !== b.state || b.images_done !== old.images_done)) {
      const merged = Object.assign({}, old, b);
      state.batches.set(b.id, merged);
    } else {
      state.batches.set(b.id, Object.assign({}, old || {}, b));
    }
    if (!state.order.includes(b.id)) {
      state.order.unshift(b.id);
      state.order.sort((x, y) => String(state.batches.get(y).created_at)
        .localeCompare(String(state.batches.get(x).created_at)));
    }
    const cur = state.batches.get(b.id);
    if (old && cur.images_done > (old.images_done || 0)) galleryNewer();
    if (ACTIVE.has(cur.state)) state.seenActive.add(b.id);
    if ((cur.state === 'completed' || cur.state === 'failed') && state.seenActive.has(b.id)) {
      state.seenActive.delete(b.id);
      finished(cur);
    }
  }

  async function refreshBatches() {
    try {
      const r = await api('/v1/batches?limit=100');
      const ids = new Set();
      for (const b of r.batches) { upsertBatch(b); ids.add(b.id); }
      // batches deleted elsewhere leave the list
      state.order = state.order.filter((id) => ids.has(id) || state.batches.get(id)?.keep);
      if (state.account && r.credits_available !== undefined &&
          r.credits_available !== state.account.credits_available) {
        state.account.credits_available = r.credits_available;
        $('account-credits').textContent = fmt(r.credits_available);
      }
      renderBatches();
      if (state.offline) {
        state.offline = false;
        setLive(state.live);
      }
    } catch (e) {
      // said where the live status is; the next poll tries again
      if (e.status === 0) {
        state.offline = true;
        $('live-mode').textContent = 'kilnd is not answering; trying again…';
      }
    }
  }

  function actionsFor(b) {
    const out = [];
    const mk = (label, cls, fn, desc) => el('button', { type: 'button', class: cls,
      'aria-label': label + ' ' + b.name, title: desc, onclick: fn }, label);
    if (b.state === 'draft') out.push(mk('Review', '', () => { showDetails(b); $('details').focus(); },
      'Show the details and start'));
    if (ACTIVE.has(b.state) && b.state !== 'stopping') {
      out.push(mk('Stop', 'danger', () => control(b, 'stop'), 'Stop generating; finished images stay'));
    }
    if (b.state === 'stopped') out.push(mk('Resume', 'primary', () => control(b, 'resume'),
      'Continue with the images not made yet'));
    // Download stays in its place from the start (disabled until an image is made): no jump
    if (b.state !== 'draft') {
      const d = mk('Download', '', () => download(state.batches.get(b.id) || b),
        b.images_done > 0 ? 'The images made so far, as a .zip' : 'No image is made yet');
      d.disabled = !(b.images_done > 0);
      out.push(d);
    }
    return out;
  }

  function batchItem(b) {
    const li = el('li', { class: 'batch', 'data-batch': b.id });
    const title = el('h3', { tabindex: '-1' }, b.name);
    const badge = el('span', { class: 'badge' });
    const bar = el('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': '0',
      'aria-valuemax': '100', 'aria-label': 'Progress of ' + b.name }, el('div', { class: 'fill' }));
    const counts = el('p', { class: 'counts' });
    const acts = el('div', { class: 'actions' });
    li.append(el('div', { class: 'batch-head' }, title, badge), bar, counts, acts);
    li._parts = { title, badge, bar, fill: bar.firstChild, counts, acts, key: '' };
    return li;
  }

  function updateItem(li, b) {
    const p = li._parts;
    if (p.title.textContent !== b.name) {
      p.title.textContent = b.name;
      p.bar.setAttribute('aria-label', 'Progress of ' + b.name);
    }
    p.badge.textContent = STATE_LABEL[b.state] || b.state;
    p.badge.className = 'badge s-' + b.state;
    const pct = Math.max(0, Math.min(1, Number(b.progress) || 0));
    p.fill.style.transform = 'scaleX(' + pct + ')';
    p.bar.setAttribute('aria-valuenow', String(Math.round(pct * 100)));
    p.bar.setAttribute('aria-valuetext', fmt(b.images_done) + ' of ' + fmt(b.images_total) + ' images');
    p.bar.classList.toggle('moving', b.state === 'running');
    let text = fmt(b.images_done) + ' / ' + fmt(b.images_total) + ' images';
    if (b.state === 'draft') text = 'Not started · ' + plural(b.images_total, 'image') + ', ' +
      plural(b.credits_required, 'credit');
    if (b.images_failed) text += ' · ' + fmt(b.images_failed) + ' failed';
    if (b.state === 'running' && b.eta_seconds !== null && b.eta_seconds !== undefined) {
      text += ' · ' + eta(b.eta_seconds);
    }
    if (b.state === 'failed' && b.error) text += ' · ' + b.error;
    p.counts.textContent = text;
    const key = b.state + '|' + (b.images_done > 0);
    if (key !== p.key) {
      const focused = p.acts.contains(document.activeElement) ? document.activeElement.textContent : null;
      p.acts.replaceChildren(...actionsFor(b));
      p.key = key;
      if (focused) {
        const again = Array.from(p.acts.children).find((x) => x.textContent === focused) ||
          p.acts.firstChild;
        if (again) again.focus();
      }
    }
  }

  function renderBatches() {
    const list = $('batch-list');
    const have = new Map(Array.from(list.children).map((li) => [li.dataset.batch, li]));
    let prev = null;
    for (const id of state.order) {
      const b = state.batches.get(id);
      let li = have.get(id);
      if (!li) li = batchItem(b);
      have.delete(id);
      updateItem(li, b);
      const want = prev ? prev.nextSibling : list.firstChild;
      if (want !== li) list.insertBefore(li, want);
      prev = li;
    }
    for (const li of have.values()) li.remove();
    show('batches-empty', state.order.length === 0);
  }

  async function control(b, what) {
    try {
      const nb = await api('/v1/batches/' + b.id + '/' + what, { method: 'POST' });
      upsertBatch(nb);
      renderBatches();
      refreshAccount();
      kickLive();
      notice(what === 'stop' ? b.name + ' is stopping; the images already made stay.'
        : b.name + ' continues with the images not made yet.');
    } catch (e) {
      notice(e.message, 'error');
      refreshBatches();
    }
  }

  async function download(b) {
    try {
      const r = await apiRaw('/v1/batches/' + b.id + '/archive');
      await saveResponse(r, zipName(b));
    } catch (e) {
      notice('The download did not work: ' + e.message, 'error');
    }
  }

  function finished(b) {
    const ok = b.state === 'completed';
    const text = ok
      ? b.name + ' is complete: ' + plural(b.images_done, 'image') + ' made' +
        (b.images_failed ? ', ' + fmt(b.images_failed) + ' failed.' : '.')
      : b.name + ' failed: ' + (b.error || 'see kilnd\'s log') + '.';
    notice(text, ok ? 'done' : 'error', ok ? el('button', { type: 'button', class: 'primary',
      onclick: () => download(state.batches.get(b.id) || b) }, 'Download ' + zipName(b)) : null);
    if ('Notification' in window && Notification.permission === 'granted') {
      try { new Notification('kiln', { body: text, tag: 'kiln-' + b.id }); } catch (e) { /* ignored */ }
    }
    refreshAccount();
    loadGallery(true);
  }

  /* ---- live updates: the event stream, else polling ----------------------- */

  function anyActive() {
    for (const id of state.order) if (ACTIVE.has(state.batches.get(id).state)) return true;
    return false;
  }

  function setLive(mode) {
    state.live = mode;
    $('live-mode').textContent = mode === 'events' ? 'Live' : mode === 'polling' ? 'Updating every second' : '';
    document.body.dataset.live = mode;
  }

  function stopLive() {
    clearTimeout(state.pollTimer);
    state.pollTimer = 0;
    if (state.eventsAbort) state.eventsAbort.abort();
    state.eventsAbort = null;
    setLive('off');
  }

  function startLive() {
    if (state.eventsAbort || !state.account) return;
    streamEvents();
  }

  /* Something changed here (start, stop, resume): poll soon if polling. */
  function kickLive() {
    if (state.live === 'polling') schedulePoll(300);
  }

  function schedulePoll(ms) {
    clearTimeout(state.pollTimer);
    state.pollTimer = setTimeout(poll, ms);
  }

  async function poll() {
    if (!state.account) return;
    await refreshBatches();
    if (state.live === 'polling') schedulePoll(anyActive() ? 1000 : 5000);
    // with the stream, a slow re-read every 5 s, in case an event was missed
    if (state.live === 'events') schedulePoll(5000);
  }

  let eventsFailures = 0;
  let lastEventId = '';

  async function streamEvents() {
    const ctl = new AbortController();
    state.eventsAbort = ctl;
    let r;
    try {
      const h = { Accept: 'text/event-stream' };
      if (lastEventId) h['Last-Event-ID'] = lastEventId;
      r = await apiRaw('/v1/events', { headers: h, signal: ctl.signal, cache: 'no-store' });
      const type = r.headers.get('Content-Type') || '';
      if (!type.startsWith('text/event-stream') || !r.body) throw new Error('not an event stream');
    } catch (e) {
      state.eventsAbort = null;
      if (e.name === 'AbortError' || !state.account) return;
      // no stream here (404 before issue 7) or it failed: poll; try the stream again later
      setLive('polling');
      schedulePoll(0);
      const later = e.status === 404 || e.status === 405 ? 60000 : Math.min(30000, 2000 * ++eventsFailures);
      setTimeout(() => { if (state.account && state.live === 'polling') startLive(); }, later);
      return;
    }
    eventsFailures = 0;
    setLive('events');
    schedulePoll(0);
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, '\n');
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          sseBlock(block);
        }
      }
    } catch (e) {
      if (e.name === 'AbortError') return;
    }
    state.eventsAbort = null;
    if (!state.account) return;
    setLive('polling');
    schedulePoll(0);
    setTimeout(() => { if (state.account && state.live === 'polling') startLive(); }, 2000);
  }

  function sseBlock(block) {
    let data = '';
    let type = 'message';
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const c = line.indexOf(':');
      const k = c < 0 ? line : line.slice(0, c);
      const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
      if (k === 'data') data += (data ? '\n' : '') + v;
      else if (k === 'event') type = v;
      else if (k === 'id') lastEventId = v;
    }
    if (!data) return;
    let d;
    try { d = JSON.parse(data); } catch (e) { return; }
    onEvent(type, d);
  }

  const refetching = new Map();

  /* An event names a batch: show what it says at once, then read the whole batch. */
  function onEvent(type, d) {
    const b = d.batch && typeof d.batch === 'object' ? d.batch : d;
    const id = b.batch_id || b.id;
    if (!id) return;
    const old = state.batches.get(id);
    if (old) {
      const upd = { id };
      for (const k of ['state', 'images_done', 'images_failed', 'images_total', 'progress', 'eta_seconds']) {
        if (b[k] !== undefined) upd[k] = b[k];
      }
      if (upd.progress === undefined && upd.images_done !== undefined && old.images_total) {
        upd.progress = ((upd.images_done || 0) + (upd.images_failed ?? old.images_failed ?? 0)) / old.images_total;
      }
      upsertBatch(upd);
      renderBatches();
    }
    if (refetching.has(id)) { refetching.set(id, true); return; }
    refetching.set(id, false);
    api('/v1/batches/' + id).then((nb) => { upsertBatch(nb); renderBatches(); })
      .catch(() => {}).finally(() => {
        const again = refetching.get(id);
        refetching.delete(id);
        if (again) onEvent(type, { id });
      });
  }

  /* ---- the Creations gallery ---------------------------------------------- */

  async function imageBlobUrl(img, thumb) {
    if (thumb) {
      try {
        const r = await apiRaw('/v1/images/' + img.id + '/thumbnail');
        return URL.createObjectURL(await r.blob());
      } catch (e) { /* no thumbnail route yet, or none for this image: the file */ }
    }
    const r = await apiRaw('/v1/images/' + img.id + '/file');
    return URL.createObjectURL(await r.blob());
  }

  let galleryLoad = 0;

  async function loadGallery(reset) {
    const mine = ++galleryLoad;
    if (reset) {
      for (const u of state.galleryUrls) URL.revokeObjectURL(u);
      state.galleryUrls = [];
      state.galleryCursor = null;
    }
    let r;
    try {
      let q = '/v1/images?limit=48&scope=' + state.scope;
      if (!reset && state.galleryCursor) q += '&cursor=' + encodeURIComponent(state.galleryCursor);
      r = await api(q);
    } catch (e) {
      if (mine === galleryLoad) $('gallery-empty').textContent = 'The images could not be listed: ' + e.message;
      return;
    }
    if (mine !== galleryLoad) return;
    const g = $('gallery');
    if (reset) g.replaceChildren();
    const imgs = r.images || [];
    for (const img of imgs) g.append(galleryItem(img));
    state.galleryCursor = r.next_cursor || null;
    show('gallery-more', !!state.galleryCursor);
    $('gallery-empty').textContent = state.scope === 'mine'
      ? 'No images yet. They appear here as your batches make them.'
      : 'No public images yet.';
    show('gallery-empty', g.children.length === 0);
  }

  function galleryItem(img) {
    const prompt = (img.fields && img.fields.prompt) || '';
    const pic = el('img', { alt: prompt ? prompt.slice(0, 200) : 'Image ' + img.index, width: '160', height: '160',
      loading: 'lazy', decoding: 'async' });
    const btn = el('button', { type: 'button', class: 'thumb',
      'aria-label': 'Open image ' + img.index + ' of row ' + img.row + ': ' + prompt.slice(0, 80),
      onclick: () => openViewer(img) }, pic);
    const li = el('li', { 'data-image': img.id }, btn);
    imageBlobUrl(img, true).then((u) => {
      state.galleryUrls.push(u);
      pic.src = u;
      li.classList.add('loaded');
    }).catch(() => { li.classList.add('broken'); });
    return li;
  }

  let newerTimer = 0;

  /* New images made since the gallery was shown go on its top (at most every 2 s). */
  function galleryNewer() {
    if (newerTimer || state.scope !== 'mine') return;
    newerTimer = setTimeout(async () => {
      newerTimer = 0;
      const g = $('gallery');
      let r;
      try { r = await api('/v1/images?limit=48&scope=mine'); } catch (e) { return; }
      if (state.scope !== 'mine') return;
      const have = new Set(Array.from(g.children).map((li) => li.dataset.image));
      const fresh = (r.images || []).filter((img) => !have.has(img.id));
      if (!fresh.length) return;
      if (fresh.length === (r.images || []).length && r.next_cursor) { loadGallery(true); return; }
      g.prepend(...fresh.map(galleryItem));
      show('gallery-empty', false);
    }, 2000);
  }

  $('gallery-more').addEventListener('click', () => loadGallery(false));
  for (const [id, scope] of [['scope-mine', 'mine'], ['scope-public', 'public']]) {
    $(id).addEventListener('click', () => {
      state.scope = scope;
      $('scope-mine').setAttribute('aria-pressed', String(scope === 'mine'));
      $('scope-public').setAttribute('aria-pressed', String(scope === 'public'));
      loadGallery(true);
    });
  }

  let viewerUrl = '';
  let viewerFrom = null;

  async function openViewer(img) {
    viewerFrom = document.activeElement;
    const v = $('viewer');
    const f = img.fields || {};
    $('viewer-title').textContent = 'Row ' + img.row + ', image ' + img.index;
    $('viewer-prompt').textContent = f.prompt || '';
    fieldRows($('viewer-fields'), f, [
      ['Size', img.width + ' × ' + img.height + ' px'],
      ['Seed used', img.seed === null || img.seed === undefined ? '—' : String(img.seed)],
      ['Engine', img.engine || '—'],
      ['Made', img.created_at ? new Date(img.created_at).toLocaleString() : '—']
    ]);
    const pic = $('viewer-img');
    pic.alt = f.prompt || '';
    pic.removeAttribute('src');
    if (!v.open) v.showModal();
    $('viewer-close').focus();
    try {
      if (viewerUrl) URL.revokeObjectURL(viewerUrl);
      viewerUrl = await imageBlobUrl(img, false);
      pic.src = viewerUrl;
      const a = $('viewer-open');
      a.href = viewerUrl;
      a.download = 'row-' + String(img.row).padStart(4, '0') + '-' + img.index + '.png';
    } catch (e) {
      pic.alt = 'The image could not be loaded: ' + e.message;
    }
  }

  $('viewer-close').addEventListener('click', () => $('viewer').close());
  $('viewer').addEventListener('click', (ev) => { if (ev.target === $('viewer')) $('viewer').close(); });
  $('viewer').addEventListener('close', () => { if (viewerFrom) viewerFrom.focus(); });

  boot();
})();
