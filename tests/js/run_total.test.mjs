import assert from 'node:assert/strict'
import { test } from 'node:test'

import { effectiveTable, fromServer } from '../../web/lib/prices.js'
import { budgetRefusals, parseThreshold, partText, runTotal, totalText, wantsConfirm } from '../../web/lib/run_total.js'

const TABLE = effectiveTable(fromServer({
  credits: { '5/720p': 70, '5/1080p': 104.5, '10/720p': 140, '10/1080p': 209.5 }, usd_per_credit: 0.005
}), '')

// an API prompt as graphToPrompt().output gives it
const wan = (duration, resolution, extra = {}) => ({
  class_type: 'ApikleyWan26V2V', inputs: { duration, resolution, video: ['1', 0], ...extra }, _meta: { title: 'Wan 2.6' }
})
const OUTPUT = {
  1: { class_type: 'LoadVideo', inputs: { file: 'a.mp4' } },
  2: wan('5', '720p'),
  3: { ...wan('10', '1080p'), class_type: 'ApikleyWan26V2VSubmit', _meta: { title: 'Submit' } },
  4: { class_type: 'SaveVideo', inputs: { video: ['2', 0] } }
}
const paid = { runs: 1, reused_runs: 0, reuse: false }

test('the total sums every generating node by the table in force', () => {
  const total = runTotal({ output: OUTPUT, table: TABLE })
  assert.deepEqual(total.parts.map((p) => [p.id, p.credits]), [['2', 70], ['3', 209.5]])
  assert.equal(total.credits, 279.5)
  assert.equal(total.usd, 1.3975)
  assert.equal(totalText(total), 'Run: ~$1.40 (279.5 credits)')
  const override = runTotal({ output: OUTPUT, table: effectiveTable(fromServer({ ...TABLE, credits: TABLE.credits, usd_per_credit: 0.005 }), '5/720p=100') })
  assert.equal(override.credits, 309.5)
  assert.equal(runTotal({ output: { 1: OUTPUT[1] }, table: TABLE }).parts.length, 0)
  assert.equal(totalText(runTotal({ output: {}, table: TABLE })), '')
})

test('batch copies multiply what the pack cannot fingerprint; identical fingerprinted runs pay once', () => {
  const unknown = runTotal({ output: OUTPUT, table: TABLE, batchCount: 2 })
  assert.equal(unknown.credits, 559)
  assert.equal(totalText(unknown), 'Run: ~$2.80 (559 credits) · batch ×2')
  const known = runTotal({ output: OUTPUT, table: TABLE, batchCount: 2, nodes: { 2: paid, 3: paid } })
  assert.equal(known.credits, 279.5)
  assert.equal(totalText(known), 'Run: ~$1.40 (279.5 credits) · batch ×2: identical runs pay once')
  const mixed = runTotal({ output: OUTPUT, table: TABLE, batchCount: 3, nodes: { 2: paid, 3: { runs: 1, reused_runs: null, reuse: null } } })
  assert.equal(mixed.credits, 70 + 3 * 209.5)
  assert.equal(runTotal({ output: OUTPUT, table: TABLE, batchCount: 'x' }).batchCount, 1)
})

test('a re-used result counts as 0 and says so', () => {
  const total = runTotal({ output: OUTPUT, table: TABLE, nodes: { 2: { runs: 1, reused_runs: 1, reuse: true }, 3: paid } })
  assert.equal(total.credits, 209.5)
  assert.equal(totalText(total), 'Run: ~$1.05 (209.5 credits) · 1 re-used')
  assert.equal(partText(total.parts[0]), 'Wan 2.6 (#2), 5 s 720p: re-uses its recorded result, no charge')
  assert.equal(partText(total.parts[1]), 'Submit (#3), 10 s 1080p: $1.05 (209.5 credits)')
  const free = runTotal({ output: OUTPUT, table: TABLE, nodes: { 2: { runs: 1, reused_runs: 1 }, 3: { runs: 1, reused_runs: 1 } }, api: 'simulator' })
  assert.equal(totalText(free), 'Run: no new charge · 2 re-used · simulator — no real credits')
})

test('a folder of clips: one run per clip, the clips already paid left out; an unknown list is "at least"', () => {
  const folder = runTotal({ output: { 2: wan('5', '720p') }, table: TABLE, nodes: { 2: { runs: 3, reused_runs: 1, reuse: null } } })
  assert.equal(folder.credits, 140)
  assert.equal(partText(folder.parts[0]), 'Wan 2.6 (#2), 5 s 720p: $0.70 (140 credits) (3 clips, 1 re-used, 2 × $0.35 (70 credits))')
  const list = runTotal({ output: { 2: wan('5', '720p') }, table: TABLE, nodes: { 2: { runs: null, reused_runs: null, reuse: null } } })
  assert.equal(list.atLeast, true)
  assert.equal(totalText(list), 'Run: at least $0.35 (70 credits)')
  assert.match(partText(list.parts[0]), /at least one run/)
})

test('settings wired to another node are counted at the dearest price', () => {
  const total = runTotal({ output: { 2: wan(['9', 0], '720p') }, table: TABLE })
  assert.equal(total.credits, 209.5)
  assert.match(partText(total.parts[0]), /dearest price/)
})

test('the threshold: empty never asks, 0 always asks, otherwise above it', () => {
  const total = runTotal({ output: OUTPUT, table: TABLE, batchCount: 2 }) // $2.80
  assert.equal(parseThreshold(''), null)
  assert.equal(parseThreshold(' 0 '), 0)
  assert.equal(parseThreshold('2.5'), 2.5)
  assert.equal(parseThreshold('two'), 2)
  assert.equal(parseThreshold(undefined), null)
  assert.equal(wantsConfirm(total, 2), true)
  assert.equal(wantsConfirm(total, 3), false)
  assert.equal(wantsConfirm(total, null), false)
  const free = runTotal({ output: OUTPUT, table: TABLE, nodes: { 2: { runs: 1, reused_runs: 1 }, 3: { runs: 1, reused_runs: 1 } } })
  assert.equal(wantsConfirm(free, 0), true)
  assert.equal(wantsConfirm(free, 2), false)
  assert.equal(wantsConfirm(runTotal({ output: {}, table: TABLE }), 0), false)
})

test('the budget guard\'s refusals are named before the run', () => {
  const total = runTotal({ output: OUTPUT, table: TABLE }) // $1.3975, 279.5 credits
  const budget = {
    caps: { session_usd: 1, day_usd: 5, min_balance: 800 },
    source: { session_usd: 'settings', day_usd: 'env', min_balance: 'settings' },
    spent: { session_usd: 0, day_usd: 4 },
    env_vars: { session_usd: 'APIKLEY_BUDGET_SESSION_USD', day_usd: 'APIKLEY_BUDGET_DAY_USD', min_balance: 'APIKLEY_MIN_BALANCE' }
  }
  const said = budgetRefusals(total, budget, { ok: true, credits: 1000 })
  assert.equal(said.length, 3)
  assert.equal(said[0], 'The per-session cap of $1.00 (Settings) would refuse it: $0.00 spent this session + this run\'s $1.40.')
  assert.match(said[1], /per-day cap of \$5\.00 \(APIKLEY_BUDGET_DAY_USD\).*\$4\.00 spent today/)
  assert.match(said[2], /minimum balance of 800 credits.*1000 credits.*279\.5/)
  assert.deepEqual(budgetRefusals(total, { ...budget, caps: { session_usd: 2, day_usd: null, min_balance: null } }, null), [])
  assert.deepEqual(budgetRefusals(total, null, null), [])
  assert.equal(budgetRefusals(total, budget, { ok: false }).length, 2, 'an unread balance claims nothing')
})
