/*
 * run.mjs — the browser tests of the page kilnd serves at /: Debian's
 * chromium (headless, through playwright-core) against a real kilnd with
 * the built-in engine, each step screenshotted to build/screenshots/.
 *
 *   node tests/browser/run.mjs          (make check-browser; ONLY=word runs the tests named so)
 *
 * The whole flow: sign-in (a wrong token fails, then the right one), the
 * templates, a bad file shows its cell errors, the fixed file (dropped on
 * the page) shows the right preview, Replace, start with the keyboard, the
 * progress bar advances with no layout jump, stop, the partial zip, resume,
 * the completion notice (in the page and as a browser notification), the
 * full zip holds the right files, the gallery shows them and opens one
 * large.  Then: auth = none needs no sign-in, Start is disabled with its
 * reason when credits are short, and a phone-sized screen has no sideways
 * scrolling.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kilnd, Skip, accessible, openPage, request, shot, until, assert, eq, run, zipEntries, zipRead } from './lib.mjs';

const BAD_CSV = 'prompt,visibility,aspect_ratio,style\n' +
  '"A red fox asleep in fresh snow",public,1:1,auto\n' +
  '"A blue whale under the northern lights",secret,7:5,auto\n' +
  '"A green frog on a lily pad",private,16:9,cartoon\n';

const FIXED_CSV = 'prompt,visibility,aspect_ratio,style\n' +
  '"A red fox asleep in fresh snow",public,1:1,auto\n' +
  '"A blue whale under the northern lights",public,2:3,auto\n' +
  '"A green frog on a lily pad",private,16:9,anime\n';

// the file that replaces the fixed one: 4 rows, 16 images, the first row's settings all given
const FINAL_CSV = 'prompt,visibility,aspect_ratio,magic_prompt,model,seed_number,rendering,negative_prompt,style,color_palette\n' +
  '"A lighthouse on a cliff at dusk, warm light",public,16:9,off,2.0,4242,quality,"blur, text",realistic,ember\n' +
  '"A blue whale under the northern lights",public,1:1,on,2.0,,default,,auto,\n' +
  '"A green frog on a lily pad",private,3:2,on,2.0,,turbo,,anime,\n' +
  '"A paper crane on a desk",private,1:1,on,1.0,7,default,,design,\n';

function tmpFile(name, text) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-files-'));
  const p = path.join(d, name);
  fs.writeFileSync(p, text);
  return p;
}

async function batchState(page, id) {
  return page.$eval('[data-batch="' + id + '"] .badge', (e) => e.textContent);
}

async function barValue(page, id) {
  return Number(await page.getAttribute('[data-batch="' + id + '"] [role=progressbar]', 'aria-valuenow'));
}

async function download(page, click) {
  const [d] = await Promise.all([page.waitForEvent('download'), click()]);
  const p = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-dl-')), d.suggestedFilename());
  await d.saveAs(p);
  return { name: d.suggestedFilename(), path: p };
}

/* On a failure: a screenshot, what the page said, and the error again. */
async function failed(page, name, e) {
  try {
    await shot(page, 'FAILED-' + name);
    e.message += '\n     page status: ' + (await page.textContent('#upload-status')) +
      '\n     page problems: ' + JSON.stringify(page.problems);
  } catch (e2) { /* the page is gone */ }
  throw e;
}

/*
 * One test's session: a kilnd with args, a page on it, body(k, page); at the
 * end no script error, no console error and no CSP violation may have
 * happened; on a failure a screenshot FAILED-<name>.png.
 */
async function session(name, args, opts, body) {
  const k = await new Kilnd(args).start();
  const { ctx, page } = await openPage(k, opts);
  try {
    await body(k, page);
    eq(page.problems, [], 'no script error, no console error');
    eq(await page.evaluate(() => window.__kilnCsp), [], 'no Content-Security-Policy violation');
  } catch (e) {
    if (e instanceof Skip) throw e;
    await failed(page, name, e);
  } finally {
    await ctx.close();
    await k.stop();
  }
}

async function theFlow() {
  // 16 images at 600 ms each on one worker: about 10 s, slow enough to watch
  await session('flow', ['--set', 'builtin.delay_ms=600', '--set', 'builtin.size=96', '--workers', '1'],
    { permissions: ['notifications'] }, flowSteps);
}

async function flowSteps(k, page) {
  // -- sign-in: the page asks for a token; a wrong one fails clearly
  await page.waitForSelector('#signin:not([hidden])');
  assert(await page.isHidden('#app'), 'the app is hidden before sign-in');
  await shot(page, '01-sign-in');
  await accessible(page, '01-sign-in');
  await page.fill('#token', 'not-a-real-token');
  await page.click('#signin button[type=submit]');
  await until(async () => (await page.textContent('#signin-error')).includes('not accepted'),
    'the wrong token is refused');
  eq(await page.getAttribute('#token', 'aria-invalid'), 'true', 'the token field is marked invalid');
  assert(await page.isHidden('#app'), 'still signed out');
  await shot(page, '02-wrong-token');
  await accessible(page, '02-wrong-token');
  await page.fill('#token', k.token);
  await page.press('#token', 'Enter');
  await page.waitForSelector('#app:not([hidden])');
  await until(async () => (await page.textContent('#account-credits')) === '100,000', 'credits shown');
  eq(await page.evaluate(() => sessionStorage.getItem('kiln.token')), k.token, 'token kept for the session');
  await shot(page, '03-signed-in');

  // -- the keyboard reaches the upload, and its focus shows on the button-like label
  await page.focus('#template-main');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  eq(await page.evaluate(() => document.activeElement.id), 'file', 'Tab reaches the file input');
  const ring = await page.$eval('#upload-label', (l) => getComputedStyle(l).outlineStyle + ' ' +
    getComputedStyle(l).outlineWidth);
  eq(ring, 'solid 3px', 'the focus ring shows on the upload button');

  // -- templates: the simple CSV, and the full .xlsx from the menu
  const t1 = await download(page, () => page.click('#template-main'));
  eq(t1.name, 'kiln-simple.csv', 'simple template name');
  assert(fs.readFileSync(t1.path, 'utf8').startsWith('prompt,visibility,aspect_ratio'), 'simple template header');
  await page.click('.more summary');
  const t2 = await download(page, () => page.click('text=Full (every column), Excel (.xlsx)'));
  eq(t2.name, 'kiln-full.xlsx', 'full template name');
  eq(fs.readFileSync(t2.path).subarray(0, 2).toString(), 'PK', 'the .xlsx is a zip');
  assert(zipEntries(t2.path).includes('xl/workbook.xml'), 'the .xlsx has a workbook');
  await page.click('.more summary');

  // -- a bad file: every problem listed by row, column, cell, value and what to do
  await page.setInputFiles('#file', tmpFile('stickers-bad.csv', BAD_CSV));
  await page.waitForSelector('#errors:not([hidden])');
  const rows = await page.$$eval('#errors-table tbody tr', (trs) =>
    trs.map((tr) => Array.from(tr.children).map((td) => td.textContent.trim())));
  eq(rows.length, 3, 'three problems');
  eq(rows.map((r) => r.slice(0, 4)), [
    ['3', 'visibility', 'B3', 'secret'],
    ['3', 'aspect_ratio', 'C3', '7:5'],
    ['4', 'style', 'D4', 'cartoon']], 'the problems, cell by cell');
  assert(rows[0][4].includes('use public or private'), 'what to do: ' + rows[0][4]);
  assert(rows[2][4].includes('auto, general, realistic'), 'what to do: ' + rows[2][4]);
  assert((await page.textContent('#errors-title')).includes('3 problems in stickers-bad.csv'), 'errors title');
  assert(await page.isHidden('#details'), 'no details for a refused file');
  await shot(page, '04-cell-errors');
  await accessible(page, '04-cell-errors');

  // -- the fixed file, dropped on the page: the preview of its first row
  const dt = await page.evaluateHandle((text) => {
    const d = new DataTransfer();
    d.items.add(new File([text], 'stickers.csv', { type: 'text/csv' }));
    return d;
  }, FIXED_CSV);
  await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer: dt });
  await page.waitForSelector('#details:not([hidden])');
  assert(await page.isHidden('#errors'), 'the errors are gone');
  eq(await page.textContent('#details-name'), 'stickers.csv', 'draft name');
  eq(await page.textContent('#d-prompt'), 'A red fox asleep in fresh snow', 'first row prompt');
  eq(await page.textContent('#d-rows'), '3', 'rows');
  eq(await page.textContent('#d-images'), '12', 'images');
  eq(await page.textContent('#d-required'), '24', 'credits required');
  eq(await page.textContent('#d-available'), '100,000', 'credits available');
  await shot(page, '05-details');

  // -- Replace with the final file: the preview follows
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#replace')]);
  await chooser.setFiles(tmpFile('lighthouse.csv', FINAL_CSV));
  await until(async () => (await page.textContent('#details-name')) === 'lighthouse.csv', 'replaced');
  eq(await page.textContent('#d-prompt'), 'A lighthouse on a cliff at dusk, warm light', 'new first row');
  eq(await page.textContent('#d-rows'), '4', 'rows');
  eq(await page.textContent('#d-images'), '16', 'images');
  eq(await page.textContent('#d-required'), '32', 'credits required');
  const fields = Object.fromEntries(await page.$$eval('#d-fields > div', (ds) =>
    ds.map((d) => [d.querySelector('dt').textContent, d.querySelector('dd').textContent])));
  eq(fields, { Visibility: 'public', 'Aspect ratio': '16:9', 'Magic prompt': 'off', Model: '2.0', Seed: '4242',
    Rendering: 'quality', 'Negative prompt': 'blur, text', Style: 'realistic', 'Color palette': 'ember',
    Images: '4' }, 'the first row, readable');
  assert(await page.isEnabled('#start'), 'Start is enabled');
  eq(await page.textContent('#start-reason'), '', 'no reason to wait');
  await shot(page, '06-replaced');
  await accessible(page, '06-replaced');

  // -- start, with the keyboard
  await page.focus('#start');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#details', { state: 'hidden' });
  const id = await page.getAttribute('#batch-list li', 'data-batch');
  assert(id && id.length === 24, 'the batch is listed: ' + id);
  await until(async () => ['Queued', 'Running'].includes(await batchState(page, id)), 'running');

  // -- the bar advances; nothing moves while it does
  const box0 = await page.locator('[data-batch="' + id + '"]').boundingBox();
  const stop0 = await page.locator('[data-batch="' + id + '"] button:has-text("Stop")').boundingBox();
  const v1 = await until(async () => { const v = await barValue(page, id); return v > 0 && v < 100 && v; },
    'the bar leaves 0', 30000);
  const v2 = await until(async () => { const v = await barValue(page, id); return v > v1 && v; },
    'the bar advances past ' + v1, 30000);
  assert(v2 < 100, 'still running when seen advancing');
  const box1 = await page.locator('[data-batch="' + id + '"]').boundingBox();
  const stop1 = await page.locator('[data-batch="' + id + '"] button:has-text("Stop")').boundingBox();
  eq(box1, box0, 'the batch row keeps its place and size while progress updates');
  eq(stop1, stop0, 'the Stop button does not move while progress updates');
  // live from the event stream where kilnd has one, else by polling
  const live = (await k.status('/v1/events')) === 200 ? 'Live' : 'Updating every second';
  eq(await page.textContent('#live-mode'), live, 'how the page follows the batch');
  const counts = await page.textContent('[data-batch="' + id + '"] .counts');
  assert(/^\d+ \/ 16 images/.test(counts), 'counts: ' + counts);
  await shot(page, '07-running');
  await accessible(page, '07-running');

  // -- stop: Resume and Download appear; the partial zip holds what was made
  await page.click('[data-batch="' + id + '"] button:has-text("Stop")');
  await until(async () => (await batchState(page, id)) === 'Stopped', 'stopped', 15000);
  await page.waitForSelector('[data-batch="' + id + '"] button:has-text("Resume")');
  const stopped = (await k.api('GET', '/v1/batches/' + id)).json;
  eq(stopped.state, 'stopped', 'the API agrees');
  assert(stopped.images_done > 0 && stopped.images_done < 16, 'partly done: ' + stopped.images_done);
  await shot(page, '08-stopped');
  await accessible(page, '08-stopped');
  const part = await download(page, () => page.click('[data-batch="' + id + '"] button:has-text("Download")'));
  eq(part.name, 'lighthouse.zip', 'zip name');
  const partNames = zipEntries(part.path);
  eq(partNames[0], 'manifest.csv', 'the manifest first');
  eq(partNames.length - 1, stopped.images_done, 'the partial zip holds the images made');

  // -- resume to the end: the notice in the page and the browser's notification
  await page.click('[data-batch="' + id + '"] button:has-text("Resume")');
  await until(async () => ['Queued', 'Running', 'Completed'].includes(await batchState(page, id)), 'resumed');
  await until(async () => (await batchState(page, id)) === 'Completed', 'completed', 60000, 100);
  const note = await page.waitForSelector('.notice.done');
  const noteText = await note.textContent();
  assert(noteText.includes('lighthouse.csv is complete: 16 images made'), 'notice: ' + noteText);
  const notes = await page.evaluate(() => window.__kilnNotes);
  eq(notes.length, 1, 'one browser notification');
  assert(notes[0].body.includes('lighthouse.csv is complete'), 'notification: ' + notes[0].body);
  eq(await barValue(page, id), 100, 'the bar is full');
  await shot(page, '09-completed', false);
  await accessible(page, '09-completed');

  // -- the full zip, from the notice's button: the manifest and every image, in row order
  const full = await download(page, () => page.click('.notice.done button.primary'));
  eq(full.name, 'lighthouse.zip', 'zip name');
  const names = zipEntries(full.path);
  const want = ['manifest.csv'];
  for (let r = 2; r <= 5; r++) for (let i = 1; i <= 4; i++) want.push('row-000' + r + '-' + i + '.png');
  eq(names, want, 'the zip holds the manifest and the 16 images');
  for (const n of names.slice(1)) {
    eq(zipRead(full.path, n).subarray(1, 4).toString(), 'PNG', n + ' is a PNG');
  }
  const manifest = zipRead(full.path, 'manifest.csv').toString();
  assert(manifest.includes('A lighthouse on a cliff at dusk'), 'the manifest names the prompts');

  // -- the Creations: 16 thumbnails, one opened large with its prompt and settings
  await until(async () => (await page.$$('#gallery li.loaded')).length === 16, 'sixteen images shown', 20000);
  const srcs = await page.$$eval('#gallery img', (is) => is.map((i) => i.src.startsWith('blob:') && i.naturalWidth > 0));
  assert(srcs.every(Boolean), 'every thumbnail is a loaded image');
  // thumbnails where kilnd makes them, else the files
  const shown = await page.$$eval('#gallery li', (lis) => lis.map((li) => li.dataset.image));
  const thumbs = (await k.status('/v1/images/' + shown[0] + '/thumbnail')) === 200;
  console.log('     the gallery shows ' + (thumbs ? 'thumbnails' : 'the files (no thumbnail route)') +
    '; the batch list is ' + (live === 'Live' ? 'live from /v1/events' : 'polled (no event stream)'));
  const got = new Set(page.responses.filter(([, st]) => st === 200).map(([p]) => p));
  for (const im of shown) {
    assert(got.has('/v1/images/' + im + (thumbs ? '/thumbnail' : '/file')),
      'image ' + im + ' shown from its ' + (thumbs ? 'thumbnail' : 'file'));
    if (thumbs) assert(!got.has('/v1/images/' + im + '/file'), 'no file fetched when the thumbnail is there');
  }
  await page.locator('#creations').scrollIntoViewIfNeeded();
  await shot(page, '10-gallery');
  await accessible(page, '10-gallery');
  const last = page.locator('#gallery li').last();       // newest first: the last is row 2, image 1
  await last.locator('button').focus();
  await page.keyboard.press('Enter');
  await page.waitForSelector('#viewer[open]');
  await until(() => page.$eval('#viewer-img', (i) => i.complete && i.naturalWidth > 0), 'the large image loads');
  eq(await page.textContent('#viewer-title'), 'Row 2, image 1', 'viewer title');
  eq(await page.textContent('#viewer-prompt'), 'A lighthouse on a cliff at dusk, warm light', 'viewer prompt');
  const vf = Object.fromEntries(await page.$$eval('#viewer-fields > div', (ds) =>
    ds.map((d) => [d.querySelector('dt').textContent, d.querySelector('dd').textContent])));
  eq([vf['Aspect ratio'], vf.Style, vf['Color palette'], vf.Rendering, vf.Seed, vf.Size],
    ['16:9', 'realistic', 'ember', 'quality', '4242', '96 × 56 px'], 'the settings shown large');
  eq(await page.evaluate(() => document.activeElement.id), 'viewer-close', 'focus moves into the dialog');
  await shot(page, '11-image-large', false);
  await accessible(page, '11-image-large');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#viewer:not([open])', { state: 'attached' });
  eq(await page.evaluate(() => document.activeElement.closest('#gallery') !== null), true,
    'focus returns to the gallery');

  // -- the public images: rows 2 and 3 are public (8 images)
  await page.click('#scope-public');
  await until(async () => (await page.$$('#gallery li.loaded')).length === 8, 'eight public images', 20000);
  eq(await page.getAttribute('#scope-public', 'aria-pressed'), 'true', 'the public scope is pressed');

  // -- a phone-sized screen: no sideways scrolling, the list still readable
  await until(async () => {
    const n = await page.locator('.notice').count();
    if (n) await page.locator('.notice.done button.link-button, .notice button.link-button').first()
      .click({ timeout: 1000 }).catch(() => {});
    return n === 0;
  }, 'the notices are dismissed', 15000);
  await page.setViewportSize({ width: 375, height: 740 });
  await page.locator('#batches').scrollIntoViewIfNeeded();
  const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(over <= 0, 'no sideways scrolling on a phone (' + over + ' px too wide)');
  await shot(page, '12-phone', false);
  await accessible(page, '12-phone');
}

async function authNone() {
  await session('auth-none', ['--set', 'auth=none', '--set', 'builtin.size=64'], {}, async (k, page) => {
    await page.waitForSelector('#app:not([hidden])');
    assert(await page.isHidden('#signin'), 'no sign-in with auth = none');
    assert(await page.isHidden('#sign-out'), 'no sign-out with auth = none');
    assert((await page.textContent('#account-name')).includes('no sign-in needed'), 'says so');
    // not a spreadsheet: refused, saying what to do
    await page.setInputFiles('#file', { name: 'photo.png', mimeType: 'image/png',
      buffer: Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex') });
    await page.waitForSelector('#errors:not([hidden])');
    eq(await page.textContent('#errors-title'), 'photo.png was not accepted', 'refused');
    const why = await page.textContent('#errors-summary');
    assert(why.includes('Save it as .csv, .xlsx, .xls or .ods'), 'says what to do: ' + why);
    assert(await page.isHidden('#errors-table'), 'no cell table for a file that is no spreadsheet');
    await shot(page, '21-not-a-spreadsheet');
    await page.setInputFiles('#file', tmpFile('one.csv', 'prompt,visibility\n"A small cat",private\n'));
    await page.waitForSelector('#details:not([hidden])');
    eq(await page.textContent('#d-images'), '4', 'images');
    await shot(page, '20-auth-none');
    // a template uploaded as it is: its example rows are warnings, shown with the details
    await page.setInputFiles('#file', tmpFile('kiln-simple.csv',
      (await request(k.url + '/v1/templates/simple.csv')).text));
    await until(async () => (await page.textContent('#details-name')) === 'kiln-simple.csv', 'the template read');
    await page.waitForSelector('#d-warnings:not([hidden])');
    const warns = await page.$$eval('#d-warnings-list li', (lis) => lis.map((li) => li.textContent));
    eq(warns.length, 2, 'one warning per example row');
    assert(warns[0].startsWith('A2 ') && warns[0].includes('example row'), 'the warning names its cell: ' + warns[0]);
    await shot(page, '22-warnings');
    await accessible(page, '22-warnings');
    // Discard deletes the draft, from the page and from kilnd; Review shows a listed draft again
    await page.click('#discard');
    await page.waitForSelector('#details', { state: 'hidden' });
    await until(async () => (await page.$$('#batch-list li')).length === 1, 'one draft is left');
    await page.click('#batch-list button:has-text("Review")');
    await page.waitForSelector('#details:not([hidden])');
    eq(await page.textContent('#details-name'), 'one.csv', 'the draft reviewed');
    await page.click('#discard');
    await page.waitForSelector('#details', { state: 'hidden' });
    await until(async () => (await page.$$('#batch-list li')).length === 0, 'the draft leaves the list');
    eq((await k.api('GET', '/v1/batches')).json.batches.length, 0, 'kilnd has no batch left');
    // markup in a cell is shown as text, never run
    const evil = '<b>bold</b><img src=x onerror="window.__pwned=1">';
    await page.setInputFiles('#file', tmpFile('<i>x<i>.csv',
      'prompt,visibility\n"' + evil.replace(/"/g, '""') + '",private\n'));
    await page.waitForSelector('#details:not([hidden])');
    eq(await page.textContent('#d-prompt'), evil, 'the prompt as text');
    eq(await page.textContent('#details-name'), '<i>x<i>.csv', 'the file name as text');
    eq(await page.$$eval('#d-prompt *, #details-name *, #batch-list h3 *', (e) => e.length), 0,
      'no element made from a cell or a file name');
    eq(await page.evaluate(() => window.__pwned), undefined, 'no script ran');
  });
}

async function creditsShort() {
  await session('credits', ['--set', 'admin_credits=10', '--set', 'builtin.size=64'], {}, async (k, page) => {
    await page.fill('#token', k.token);
    await page.click('#signin button[type=submit]');
    await page.waitForSelector('#app:not([hidden])');
    await page.setInputFiles('#file', tmpFile('big.csv', FINAL_CSV));
    await page.waitForSelector('#details:not([hidden])');
    eq(await page.textContent('#d-required'), '32', 'required');
    eq(await page.textContent('#d-available'), '10', 'available');
    assert(await page.isDisabled('#start'), 'Start is disabled');
    const why = await page.textContent('#start-reason');
    assert(why.includes('needs 32') && why.includes('have 10') && why.includes('22 more'), 'the reason: ' + why);
    eq(await page.getAttribute('#start', 'aria-describedby'), 'start-reason', 'the reason is tied to the button');
    await shot(page, '30-credits-short');
    await accessible(page, '30-credits-short');
  });
}

/*
 * A second account (where kilnd has POST /v1/accounts): it signs in with its
 * own token, sees none of the admin's images as its own, sees only the
 * public ones under Public, and signs out.
 */
async function secondAccount() {
  await session('account', ['--set', 'builtin.size=64', '--workers', '2'], {}, async (k, page) => {
    const acc = await k.api('POST', '/v1/accounts', { name: 'bea', credits: 100 });
    if (acc.status === 404 || acc.status === 405) throw new Skip('this kilnd has no POST /v1/accounts');
    eq(acc.status, 201, 'account created: ' + acc.text);
    // the admin's batch: row 2 public, row 3 private
    const up = await request(k.url + '/v1/batches?name=mixed.csv', { method: 'POST', body:
      'prompt,visibility\n"A public moon",public\n"A private sun",private\n',
      headers: { Authorization: 'Bearer ' + k.token, 'Content-Type': 'text/csv' } });
    eq(up.status, 201, 'uploaded: ' + up.text);
    eq((await k.api('POST', '/v1/batches/' + up.json.id + '/start')).status, 200, 'started');
    await until(async () => (await k.api('GET', '/v1/batches/' + up.json.id)).json.state === 'completed',
      'the admin\'s batch completes', 60000);

    await page.fill('#token', acc.json.token);
    await page.press('#token', 'Enter');
    await page.waitForSelector('#app:not([hidden])');
    eq(await page.textContent('#account-name'), 'bea', 'signed in as bea');
    eq(await page.textContent('#account-credits'), '100', 'her credits');
    await until(async () => !(await page.isHidden('#gallery-empty')), 'her gallery is read');
    eq(await page.$$eval('#gallery li', (l) => l.length), 0, 'none of the admin\'s images are hers');
    assert(await page.isVisible('#batches-empty'), 'no batch of hers');
    await page.click('#scope-public');
    await until(async () => (await page.$$('#gallery li.loaded')).length === 4, 'the four public images');
    const ids = await page.$$eval('#gallery li', (lis) => lis.map((li) => li.dataset.image));
    for (const id of ids) {
      eq((await k.api('GET', '/v1/images/' + id)).json.visibility, 'public', 'only public images');
    }
    await shot(page, '40-second-account-public');
    await page.click('#sign-out');
    await page.waitForSelector('#signin:not([hidden])');
    assert(await page.isHidden('#app'), 'signed out');
    eq(await page.evaluate(() => sessionStorage.getItem('kiln.token')), null, 'the token is forgotten');
    await page.reload();
    await page.waitForSelector('#signin:not([hidden])');
  });
}

await run([
  ['the whole flow: sign-in, errors, preview, start, progress, stop, resume, notice, zip, gallery', theFlow],
  ['auth = none: no sign-in', authNone],
  ['credits short: Start disabled with its reason', creditsShort],
  ['a second account: its own gallery, the public images, sign-out', secondAccount]
]);
