import assert from 'node:assert/strict'
import { test } from 'node:test'

import {
  ageWords, cancelSummary, cancelToast, costToast, isCharge, reportCost, reportSummary, resultName, wantsCostToast
} from '../../web/lib/summary.js'

const NOW = 2_000_000_000
const TASK = '17e4a0c9b2d84f51a6e3c0d7b9f21e55'
const FILE = `wan26_v2v_${TASK}.mp4`

// the "apikley.task" event as nodes/report.py sends it (RunReport.as_dict() + node + result)
function report(changes = {}) {
  return {
    node: '12', display_node: '12', task_id: TASK, state: 'success', outcome: 'paid', charged: true,
    cost_credits: 70, cost_usd: 0.35, cost_kind: 'estimate', elapsed_s: 161.4,
    result_path: `/out/apikley_wan/${FILE}`, task_created_at: NOW - 170, finished_at: NOW - 5, api: 'apikley',
    result: { filename: FILE, subfolder: 'apikley_wan', type: 'output' },
    ...changes
  }
}
const free = (outcome, changes = {}) => report({ outcome, charged: false, ...changes })

test('a paid run says what it paid, in amber', () => {
  assert.deepEqual(reportSummary(report(), NOW),
    { text: `Paid now: 70 credits ($0.35, estimate) · 2m 41s · ${FILE}`, tone: 'paid' })
})

test("the run's upload notes follow what it paid (an HDR reference made SDR)", () => {
  const note = 'HDR reference converted to SDR for upload (HLG to BT.709)'
  assert.equal(reportSummary(report({ notes: [note] }), NOW).text,
    `Paid now: 70 credits ($0.35, estimate) · ${note} · 2m 41s · ${FILE}`)
})

test('estimate, reported and unknown costs', () => {
  assert.equal(reportCost(report()), '70 credits ($0.35, estimate)')
  assert.equal(reportCost(report({ cost_credits: 104.5, cost_usd: 0.5225, cost_kind: 'reported' })),
    '104.5 credits ($0.52)')
  assert.equal(reportCost(report({ cost_credits: null, cost_usd: null, cost_kind: 'unknown' })), 'cost unknown')
  assert.equal(reportCost(report({ cost_usd: null })), '70 credits (estimate)')
  assert.ok(reportSummary(report({ cost_credits: null, cost_usd: null, cost_kind: 'unknown' }), NOW).text
    .startsWith('Paid now: cost unknown · '))
})

test('a re-used result says no charge and how long ago it was paid, in green', () => {
  const summary = reportSummary(free('reused', { finished_at: NOW - 3 * 86400, elapsed_s: 0.4 }), NOW)
  assert.deepEqual(summary, { text: `Re-used: no charge (paid 3 days ago, task 17e4a0c9b2d8…) · 0s · ${FILE}`, tone: 'free' })
  assert.ok(!summary.text.includes('credits'), 'a free run names no amount')
  assert.match(reportSummary(free('reused', { finished_at: null }), NOW).text, /^Re-used: no charge \(paid earlier, task /)
})

test('re-attached and collected runs are free too', () => {
  assert.deepEqual(reportSummary(free('reattached', { elapsed_s: 30 }), NOW),
    { text: `Re-attached to a running task: no new charge (task 17e4a0c9b2d8…) · 30s · ${FILE}`, tone: 'free' })
  assert.deepEqual(reportSummary(free('collected', { elapsed_s: 2, result: null }), NOW),
    { text: `Collected task 17e4a0c9b2d8…: no new charge · 2s · ${FILE}`, tone: 'free' })
})

test('paid and free never read alike', () => {
  const texts = ['paid', 'reused', 'reattached', 'collected']
    .map((outcome) => reportSummary(outcome === 'paid' ? report() : free(outcome), NOW))
  assert.deepEqual(texts.map((s) => s.tone), ['paid', 'free', 'free', 'free'])
  assert.ok(texts.slice(1).every((s) => /no (new )?charge/.test(s.text) && !s.text.startsWith('Paid')))
  // the money is read from the fields: a "charged" report is a charge whatever else it says
  assert.equal(isCharge({ outcome: 'reused', charged: true }), true)
  assert.equal(isCharge({ outcome: 'reused', charged: false }), false)
})

test('the simulator says no real credits were used', () => {
  assert.equal(reportSummary(report({ api: 'simulator' }), NOW).text,
    `Paid now: 70 credits ($0.35, estimate) · simulator — no real credits · 2m 41s · ${FILE}`)
  assert.match(reportSummary(free('reused', { api: 'simulator' }), NOW).text, /\) · simulator — no real credits · /)
  assert.ok(!reportSummary(report(), NOW).text.includes('simulator'))
})

test('a run that did not end with a result says so first', () => {
  const waiting = report({ state: 'waiting', result_path: null, result: null, finished_at: null, elapsed_s: 3 })
  assert.deepEqual(reportSummary(waiting, NOW),
    { text: 'Submitted: task 17e4a0c9b2d8… (waiting) · Paid now: 70 credits ($0.35, estimate) · 3s', tone: 'paid' })
  assert.equal(reportSummary(free('reattached', { ...waiting, outcome: 'reattached', charged: false }), NOW).text,
    'Still running: task 17e4a0c9b2d8… (waiting) · Re-attached to a running task: no new charge · 3s')
  assert.equal(reportSummary(report({ state: 'fail', result_path: null, result: null, elapsed_s: 90 }), NOW).text,
    'Failed: task 17e4a0c9b2d8… · Paid now: 70 credits ($0.35, estimate) · 1m 30s')
  assert.equal(reportSummary(free('collected', { state: 'not found', task_id: 'abc', result: null, result_path: null,
    elapsed_s: 1 }), NOW).text, 'Not found: task abc · Collected: no new charge · 1s')
})

test('an outcome this version does not know claims nothing', () => {
  assert.deepEqual(reportSummary(free('borrowed', { elapsed_s: 1, result: null, result_path: null }), NOW),
    { text: 'Task 17e4a0c9b2d8…: success · 1s', tone: 'info' })
})

test('ages in words', () => {
  assert.equal(ageWords(NOW - 10, NOW), 'just now')
  assert.equal(ageWords(NOW + 10, NOW), 'just now') // a clock a little ahead
  assert.equal(ageWords(NOW - 60, NOW), '1 min ago')
  assert.equal(ageWords(NOW - 25 * 60, NOW), '25 min ago')
  assert.equal(ageWords(NOW - 3599, NOW), '59 min ago')
  assert.equal(ageWords(NOW - 2 * 3600 - 1500, NOW), '2 h ago')
  assert.equal(ageWords(NOW - 86400 - 7200, NOW), '1 day ago')
  assert.equal(ageWords(NOW - 3 * 86400, NOW), '3 days ago')
})

test('the file name keeps its underscores, from the preview or the path', () => {
  assert.equal(resultName(report()), FILE)
  assert.equal(resultName(report({ result: null })), FILE)
  assert.equal(resultName(report({ result: null, result_path: 'C:\\out\\wan26_v2v_x.mp4' })), 'wan26_v2v_x.mp4')
  assert.equal(resultName(report({ result: null, result_path: null })), '')
})

test('only a task paid and finished in this run toasts its cost and the balance', () => {
  assert.equal(wantsCostToast(report()), true)
  assert.equal(wantsCostToast(free('reused')), false)
  assert.equal(wantsCostToast(free('reattached')), false)
  assert.equal(wantsCostToast(free('collected')), false)
  assert.equal(wantsCostToast(report({ state: 'waiting' })), false)
  assert.deepEqual(costToast(report({ cost_kind: 'reported' }), '930 credits ($4.65)'), {
    severity: 'success', summary: 'apikley task 17e4a0c9b2d8… finished',
    detail: 'Paid now: 70 credits ($0.35) · balance 930 credits ($4.65)'
  })
  assert.match(costToast(report({ api: 'simulator' }), 'x').detail, /simulator — no real credits · balance x$/)
})

test('a cancel with a task says it exists, will likely be billed, and re-queuing collects it free', () => {
  const note = cancelSummary({ task_exists: true, task_id: '17e4a9b2c3d4e5f6' })
  assert.equal(note.tone, 'paid')
  assert.match(note.text, /^Cancelled: task 17e4a9b2c3d4… exists and will likely finish and be billed\./)
  assert.match(note.text, /Re-queue the same graph to collect it at no new charge\./)
  const toast = cancelToast({ task_exists: true, task_id: 'abc' })
  assert.equal(toast.severity, 'warn')
  assert.equal(toast.detail, cancelSummary({ task_exists: true, task_id: 'abc' }).text)
})

test('a cancel before any task id hedges only about a create already on its way', () => {
  const note = cancelSummary({ task_exists: false, task_id: null })
  assert.equal(note.tone, 'info')
  assert.match(note.text, /before a task id was recorded/)
  assert.doesNotMatch(note.text, /will likely/)
})

test('a measured cost says so; only the figure the API reported goes without a note', () => {
  assert.equal(reportCost({ cost_credits: 69.5, cost_usd: 0.3475, cost_kind: 'measured' }), '69.5 credits ($0.35, measured)')
  assert.equal(reportCost({ cost_credits: 70, cost_usd: 0.35, cost_kind: 'reported' }), '70 credits ($0.35)')
  assert.equal(reportCost({ cost_credits: 70, cost_usd: 0.35, cost_kind: 'estimate' }), '70 credits ($0.35, estimate)')
})
