import assert from 'node:assert/strict'
import { test } from 'node:test'

import { fromAnswer, hasGenerating, parseThreshold, partText, totalText, wantsConfirm } from '../../web/lib/run_total.js'

// one node of POST /apikley_wan/estimate's answer (nodes/estimate.py), in the route's own shape
const node = (id, { title = 'Wan 2.6', duration = '5', resolution = '720p', each = 70, runs = 1, reused = 0, paid = 1,
  fingerprinted = true, dearest = false } = {}) => [id, {
  title, duration, resolution, credits: dearest ? null : each, usd: dearest ? null : each * 0.005, runs,
  reused_runs: fingerprinted ? reused : null, reuse: null, each: { credits: each, usd: each * 0.005 }, dearest,
  fingerprinted, at_least: runs == null, paid_runs: paid, paid_credits: each * paid, paid_usd: each * paid * 0.005
}]
const answer = (nodes, { batch = 1, api = 'apikley', refusal = null } = {}) => {
  const credits = nodes.reduce((sum, [, n]) => sum + n.paid_credits, 0)
  return {
    ok: true, api, nodes: Object.fromEntries(nodes), refusal,
    total: { credits, usd: Math.round(credits * 0.005 * 1e4) / 1e4, batch_count: batch, at_least: nodes.some(([, n]) => n.at_least) }
  }
}
const SUBMIT = { title: 'Submit', duration: '10', resolution: '1080p', each: 209.5 }

test('the route\'s total in words', () => {
  const total = fromAnswer(answer([node('2'), node('3', SUBMIT)]))
  assert.deepEqual(total.parts.map((p) => [p.id, p.credits]), [['2', 70], ['3', 209.5]])
  assert.equal(totalText(total), 'Run: ~$1.40 (279.5 credits)')
  assert.equal(partText(total.parts[1]), 'Submit (#3), 10 s 1080p: $1.05 (209.5 credits)')
  assert.equal(totalText(fromAnswer(null)), '')
  assert.equal(fromAnswer(null).parts.length, 0)
})

test('only a prompt with a generating node asks the route', () => {
  assert.equal(hasGenerating({ 1: { class_type: 'LoadVideo' }, 2: { class_type: 'ApikleyWan26V2VSubmit' } }), true)
  assert.equal(hasGenerating({ 1: { class_type: 'LoadVideo' } }), false)
  assert.equal(hasGenerating(undefined), false)
})

test('batch copies: identical fingerprinted runs pay once, and the text says which', () => {
  const known = fromAnswer(answer([node('2'), node('3', SUBMIT)], { batch: 2 }))
  assert.equal(totalText(known), 'Run: ~$1.40 (279.5 credits) · batch ×2: identical runs pay once')
  const unknown = fromAnswer(answer([node('2', { fingerprinted: false, paid: 2 }), node('3', SUBMIT)], { batch: 2 }))
  assert.equal(totalText(unknown), 'Run: ~$1.75 (349.5 credits) · batch ×2')
  assert.equal(partText(unknown.parts[0]), 'Wan 2.6 (#2), 5 s 720p: $0.70 (140 credits) (2 × $0.35 (70 credits))')
})

test('a re-used result counts as 0 and says so; the simulator is named', () => {
  const total = fromAnswer(answer([node('2', { reused: 1, paid: 0 }), node('3', SUBMIT)]))
  assert.equal(totalText(total), 'Run: ~$1.05 (209.5 credits) · 1 re-used')
  assert.equal(partText(total.parts[0]), 'Wan 2.6 (#2), 5 s 720p: re-uses its recorded result, no charge')
  const free = fromAnswer(answer([node('2', { reused: 1, paid: 0 }), node('3', { ...SUBMIT, reused: 1, paid: 0 })], { api: 'simulator' }))
  assert.equal(totalText(free), 'Run: no new charge · 2 re-used · simulator — no real credits')
})

test('a folder of clips and an unknown list ("at least")', () => {
  const folder = fromAnswer(answer([node('2', { runs: 3, reused: 1, paid: 2 })]))
  assert.equal(partText(folder.parts[0]), 'Wan 2.6 (#2), 5 s 720p: $0.70 (140 credits) (3 clips, 1 re-used, 2 × $0.35 (70 credits))')
  const list = fromAnswer(answer([node('2', { runs: null, fingerprinted: false })]))
  assert.equal(list.atLeast, true)
  assert.equal(totalText(list), 'Run: at least $0.35 (70 credits)')
  assert.match(partText(list.parts[0]), /at least one run/)
  const wired = fromAnswer(answer([node('2', { dearest: true, each: 209.5, duration: null })]))
  assert.match(partText(wired.parts[0]), /dearest price/)
})

test('the guard\'s own refusal is carried as it said it', () => {
  const msg = 'Budget cap reached: the per-session cap (saved in Settings) is $1.00; ...'
  assert.equal(fromAnswer(answer([node('2')], { refusal: { cap: 'APIKLEY_BUDGET_SESSION_USD', msg } })).refusal, msg)
  assert.equal(fromAnswer(answer([node('2')])).refusal, null)
})

test('the threshold: empty never asks, 0 always asks, otherwise above it', () => {
  const total = fromAnswer(answer([node('2', { fingerprinted: false, paid: 2 }), node('3', { ...SUBMIT, fingerprinted: false, paid: 2 })], { batch: 2 })) // $2.80
  assert.equal(parseThreshold(''), null)
  assert.equal(parseThreshold(' 0 '), 0)
  assert.equal(parseThreshold('2.5'), 2.5)
  assert.equal(parseThreshold('two'), 2)
  assert.equal(parseThreshold(undefined), null)
  assert.equal(wantsConfirm(total, 2), true)
  assert.equal(wantsConfirm(total, 3), false)
  assert.equal(wantsConfirm(total, null), false)
  const free = fromAnswer(answer([node('2', { reused: 1, paid: 0 })]))
  assert.equal(wantsConfirm(free, 0), true)
  assert.equal(wantsConfirm(free, 2), false)
  assert.equal(wantsConfirm(fromAnswer(null), 0), false)
})
