import assert from 'node:assert/strict'
import { test } from 'node:test'

import { dearest, effectiveTable, estimate, formatTable, fromServer, parseOverride, priceRows } from '../../web/lib/prices.js'

// the shape GET /apikley_wan/prices answers (apikley_wan/account.py price_table)
const SERVER = {
  credits: { '5/720p': 70, '5/1080p': 104.5, '10/720p': 140, '10/1080p': 209.5 },
  usd_per_credit: 0.005, estimate: true, note: 'Estimate.'
}

test('the server table estimates every offered combination', () => {
  const table = effectiveTable(fromServer(SERVER), '')
  assert.deepEqual(estimate(table, '5', '720p'), { credits: 70, usd: 0.35 })
  assert.equal(estimate(table, '10', '1080p').credits, 209.5)
  assert.equal(table.overridden, false)
  assert.equal(estimate(table, '7', '720p'), null)
  assert.equal(estimate(null, '5', '720p'), null)
})

test('an override replaces only its entries and the dollar rate', () => {
  const table = effectiveTable(fromServer(SERVER), '10/1080p=200; usd_per_credit=0.01\n5s/720p = 60')
  assert.equal(table.overridden, true)
  assert.deepEqual(estimate(table, '10', '1080p'), { credits: 200, usd: 2 })
  assert.equal(estimate(table, '5', '720p').credits, 60)
  assert.equal(estimate(table, '5', '1080p').credits, 104.5)
})

test('each bad entry is reported with what was expected; the good ones still apply', () => {
  const cases = {
    '10/1080p=-1': /positive number/,
    '10/1080p': /one key=value/,
    'hd=5': /duration\/resolution/,
    '5/1080p=abc': /positive number/,
    '5/1080p=1=2': /one key=value/
  }
  for (const [bad, expected] of Object.entries(cases)) {
    const table = effectiveTable(fromServer(SERVER), `5/720p=60, ${bad}; usd=0.01`)
    assert.equal(table.errors.length, 1, bad)
    assert.match(table.errors[0], expected, bad)
    assert.ok(table.errors[0].includes(`"${bad}"`), 'the entry is named as typed')
    assert.deepEqual(estimate(table, '5', '720p'), { credits: 60, usd: 0.6 }, bad)
    assert.equal(estimate(table, '5', '1080p').credits, 104.5, 'a bad entry changes nothing')
  }
  const two = parseOverride('10/1080p=2OO, 5/720p=65, 4k=1')
  assert.deepEqual(two.credits, { '5/720p': 65 })
  assert.equal(two.errors.length, 2)
  assert.deepEqual(effectiveTable(fromServer(SERVER), '').errors, [])
})

test('the table knows its dearest run and whether it is the simulator', () => {
  const table = effectiveTable(fromServer({ ...SERVER, api: 'simulator' }), '5/720p=300')
  assert.deepEqual(dearest(table), { credits: 300, usd: 1.5 })
  assert.equal(table.api, 'simulator')
  assert.equal(dearest(null), null)
  assert.equal(fromServer(SERVER).api, null)
})

test('without the server table an override alone still prices a run', () => {
  assert.equal(effectiveTable(null, ''), null)
  assert.equal(effectiveTable(null, '5/720p=70'), null) // no dollar rate
  assert.deepEqual(estimate(effectiveTable(null, '5/720p=70, usd=0.005'), '5', '720p'), { credits: 70, usd: 0.35 })
})

test('formatTable writes what parseOverride reads', () => {
  const table = fromServer(SERVER)
  const parsed = parseOverride(formatTable(table))
  assert.deepEqual(parsed.errors, [])
  assert.deepEqual(parsed.credits, SERVER.credits)
  assert.equal(parsed.usdPerCredit, 0.005)
  assert.equal(fromServer({ credits: {} }), null)
  assert.equal(fromServer(null), null)
})

test('priceRows lists every entry with its dollars', () => {
  const rows = priceRows(fromServer(SERVER))
  assert.equal(rows.length, 4)
  assert.deepEqual(rows[1], { key: '5/1080p', credits: 104.5, usd: 0.5225 })
  assert.deepEqual(priceRows(null), [])
})
