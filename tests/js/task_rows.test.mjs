import assert from 'node:assert/strict'
import { test } from 'node:test'

import {
  abandonQuestion, actions, collectLabel, exactTime, explanation, FILTERS, filterRows, firstLine,
  isVideoFile, linkQuestion, lookForMinutes, pastedTaskId, rowCells, stateGroup, stateLabel
} from '../../web/lib/task_rows.js'

const ROW = {
  entry_id: 7, task_id: '0123456789abcdef', state: 'success', created_at: 1000, finished_at: 1100, duration: '5',
  resolution: '720p', prompt: 'character1 dances in the rain\nslowly, at night', typical_s: 150,
  cost_credits: 70, cost_kind: 'estimate', result_file: 'wan26_v2v_x.mp4', result_path: '/out/apikley_wan/wan26_v2v_x.mp4',
  result_folder: '/out/apikley_wan', result_exists: true, collectable: true, abandonable: false
}
const UNCERTAIN = {
  entry_id: 9, task_id: null, state: 'uncertain', created_at: 5000, duration: '10', resolution: '720p',
  prompt: 'lost', typical_s: 270, cost_credits: null, result_file: null, result_path: null, result_folder: null,
  result_exists: false, collectable: false, abandonable: true, error: 'The task may have been created…'
}
const FAILED = { ...ROW, entry_id: 8, state: 'fail', error: 'Playground task failed.', result_file: null,
  result_path: null, result_folder: null, result_exists: false, collectable: false, cost_credits: null }

test('a journal row as panel cells: prompt line, when (relative and exact), cost, state, file', () => {
  assert.deepEqual(rowCells(ROW, 1000 + 300), {
    task: '0123456789ab…', prompt: 'character1 dances in the rain', state: 'finished', created: '5 min ago',
    createdExact: exactTime(1000), cost: '~70 credits (estimate)', settings: '5s 720p', file: 'wan26_v2v_x.mp4',
    collect: null
  })
  const creating = rowCells({ task_id: null, state: 'creating', duration: '10', resolution: '1080p' }, 0)
  assert.equal(creating.task, '(no task id)')
  assert.equal(creating.prompt, '(no prompt recorded)')
  assert.equal(creating.cost, '10s 1080p')
  assert.equal(creating.collect, null)
})

test('the exact time is the local date and minute', () => {
  const d = new Date(2025, 0, 31, 14, 5, 59)
  assert.equal(exactTime(d.getTime() / 1000), '2025-01-31 14:05')
})

test('the first line of a prompt, trimmed', () => {
  assert.equal(firstLine('  two\nlines '), 'two')
  assert.equal(firstLine(undefined), '')
})


test('collect is offered for pending tasks and for finished ones whose file is gone', () => {
  assert.equal(collectLabel({ ...ROW, state: 'generating', result_exists: false }), 'Collect')
  assert.equal(collectLabel({ ...ROW, result_exists: false }), 'Download again')
  assert.equal(collectLabel(ROW), null)
  assert.equal(collectLabel(FAILED), null)
  assert.equal(rowCells({ ...ROW, result_exists: false }, 0).file, 'wan26_v2v_x.mp4 (missing)')
})

test('states read in words and group into the filter', () => {
  assert.deepEqual(FILTERS, ['all', 'finished', 'running', 'failed', 'uncertain'])
  const rows = [ROW, FAILED, UNCERTAIN, { state: 'generating' }, { state: 'waiting' }, { state: 'refused' },
    { state: 'creating', abandonable: false }, { state: 'creating', abandonable: true }, { state: 'abandoned' }]
  assert.deepEqual(rows.map(stateLabel), ['finished', 'failed', 'uncertain', 'generating', 'queued', 'refused',
    'creating', 'uncertain', 'abandoned'])
  assert.deepEqual(rows.map(stateGroup), ['finished', 'failed', 'uncertain', 'running', 'running', 'failed',
    'running', 'uncertain', null])
  assert.equal(filterRows(rows, 'all'), rows)
  assert.deepEqual(filterRows(rows, 'uncertain'), [UNCERTAIN, rows[7]])
  assert.deepEqual(filterRows(rows, 'finished'), [ROW])
  assert.deepEqual(filterRows(rows, 'running').map((r) => r.state), ['generating', 'waiting', 'creating'])
})

test('a failed task explains itself with the provider\'s words and what to do', () => {
  const { title, text } = explanation(FAILED)
  assert.equal(title, 'The generation failed on the provider')
  assert.match(text, /The provider said: “Playground task failed\.”/)
  assert.match(text, /normally not billed/)
  assert.match(text, /Change the input clip or the prompt and run again/)
  assert.doesNotMatch(explanation({ state: 'fail' }).text, /provider said/)
})

test('an uncertain create says a task may exist and be billed, and when Abandon is the answer', () => {
  const { title, text } = explanation(UNCERTAIN)
  assert.equal(title, 'The create request\'s answer was lost')
  assert.match(text, new RegExp(`was sent at ${exactTime(5000)}; no answer came back`))
  assert.match(text, /may exist and may be billed/)
  assert.match(text, /NOT sent again/)
  assert.match(text, /within 9 minutes, Abandon/)
  assert.equal(lookForMinutes({ typical_s: 150 }), 5)
  assert.equal(lookForMinutes({}), 5)
  assert.match(abandonQuestion(UNCERTAIN), /^Abandon journal entry 9\?/)
  assert.match(abandonQuestion(UNCERTAIN), /may still be\s+billed/)
})

test('refused, unknown and abandoned entries say nothing was (or may be) billed; finished ones say nothing', () => {
  assert.match(explanation({ state: 'refused', error: 'Budget cap.' }).text, /^Budget cap\. No task was made/)
  assert.match(explanation({ state: 'not found' }).title, /does not know/)
  assert.match(explanation({ state: 'abandoned' }).text, /may still be billed/)
  assert.equal(explanation(ROW), null)
  assert.equal(explanation({ state: 'generating' }), null)
})

test('each row offers only the actions that can work for it', () => {
  assert.deepEqual(actions(ROW), ['play', 'copy-id', 'copy-folder', 'load-video'])
  assert.deepEqual(actions({ ...ROW, result_exists: false }), ['copy-id', 'copy-folder', 'collect'])
  assert.deepEqual(actions(FAILED), ['copy-id'])
  assert.deepEqual(actions(UNCERTAIN), ['link', 'abandon'])
  assert.deepEqual(actions({ ...ROW, state: 'generating', result_file: null, result_folder: null,
    result_exists: false }), ['copy-id', 'collect'])
})

test('a lost create offers to link the task id the user found, before Abandon, and says what linking does', () => {
  assert.deepEqual(actions(UNCERTAIN), ['link', 'abandon'])
  assert.deepEqual(actions({ ...UNCERTAIN, state: 'creating', abandonable: false }), [])
  assert.ok(!actions(ROW).includes('link') && !actions(FAILED).includes('link'))
  assert.match(linkQuestion(UNCERTAIN), /^The task id of journal entry 9 /)
  assert.match(linkQuestion(UNCERTAIN), /re-use that task: nothing is sent or paid/)
  assert.match(explanation(UNCERTAIN).text, /“I know the task id…” links it to this entry/)
  assert.equal(pastedTaskId('  0123456789abcdef0123456789abcdef\n'), '0123456789abcdef0123456789abcdef')
  assert.equal(pastedTaskId('   '), null)
  assert.equal(pastedTaskId(null), null) // the box was cancelled
})

test('dropped files that look like videos', () => {
  assert.ok(isVideoFile('wan26_v2v_abc.MP4'))
  assert.ok(!isVideoFile('notes.txt'))
  assert.ok(!isVideoFile(undefined))
})
