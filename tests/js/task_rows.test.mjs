import assert from 'node:assert/strict'
import { test } from 'node:test'

import { collectLabel, rowCells } from '../../web/lib/task_rows.js'

const ROW = {
  task_id: '0123456789abcdef', state: 'success', created_at: 1000, finished_at: 1100, duration: '5',
  resolution: '720p', cost_credits: 70, cost_reported: false, result_file: 'wan26_v2v_x.mp4',
  result_path: '/out/apikley_wan/wan26_v2v_x.mp4', result_exists: true, collectable: true
}

test('a journal row as panel cells', () => {
  assert.deepEqual(rowCells(ROW, 1000 + 300), {
    task: '0123456789ab…', state: 'success', created: '5 min ago', cost: '~70 credits (estimate)',
    file: 'wan26_v2v_x.mp4', collect: null
  })
  const creating = rowCells({ task_id: null, state: 'creating', duration: '10', resolution: '1080p' }, 0)
  assert.equal(creating.task, '(no task id)')
  assert.equal(creating.cost, '10s 1080p')
  assert.equal(creating.collect, null)
})

test('collect is offered for pending tasks and for finished ones whose file is gone', () => {
  assert.equal(collectLabel({ ...ROW, state: 'generating', result_exists: false }), 'Collect')
  assert.equal(collectLabel({ ...ROW, result_exists: false }), 'Download again')
  assert.equal(collectLabel(ROW), null)
  assert.equal(collectLabel({ ...ROW, state: 'fail', collectable: false }), null)
  assert.equal(rowCells({ ...ROW, result_exists: false }, 0).file, 'wan26_v2v_x.mp4 (missing)')
})
