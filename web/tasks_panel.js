// The recent-tasks panel (sidebar tab, or a dialog where the sidebar API is missing): the
// journal's newest tasks, and a button that collects a pending task (or re-downloads a
// finished one whose file is gone) into the output folder without creating a task.
import { h } from './dom.js'
import { balanceText } from './lib/format.js'
import { rowCells } from './lib/task_rows.js'
import { getJson, postJson } from './pack_api.js'

const REFRESH_MS = 15000

export function renderTasksPanel(root) {
  const balance = h('div', { className: 'apikley-note' })
  const message = h('div', { className: 'apikley-note apikley-result', role: 'status' })
  const list = h('div', { className: 'apikley-tasks' })
  const refreshButton = h('button', { className: 'apikley-button', textContent: 'Refresh' })

  async function collect(row, button) {
    button.disabled = true
    button.textContent = row.state === 'success' ? 'Downloading…' : 'Waiting for the task…'
    const answer = await postJson(`tasks/${encodeURIComponent(row.task_id)}/collect`)
    message.dataset.state = answer.ok ? 'ok' : 'error'
    message.textContent = answer.ok ? `Saved ${answer.task.result_path}` : answer.msg
    await refresh()
  }

  // one card per task: it reads in the narrow sidebar as well as in the dialog
  function card(row, nowS) {
    const cells = rowCells(row, nowS)
    const action = cells.collect && h('button', { className: 'apikley-button', textContent: cells.collect })
    if (action) action.onclick = () => collect(row, action)
    const item = h('div', { className: 'apikley-task' },
      h('div', { className: 'apikley-row' },
        h('strong', { textContent: cells.task, title: row.task_id ?? '' }),
        h('span', { className: 'apikley-state', textContent: cells.state, title: row.error ?? '' })),
      h('div', { className: 'apikley-note', textContent: [cells.created, cells.cost].filter(Boolean).join(' · ') }),
      cells.file && h('div', {
        className: 'apikley-note apikley-file', textContent: cells.file, title: row.result_path ?? ''
      }),
      action)
    item.dataset.state = row.state
    return item
  }

  async function refresh() {
    const [tasks, credits] = await Promise.all([getJson('tasks?limit=30'), getJson('credits')])
    balance.textContent = `Balance: ${balanceText(credits)}`
    if (!tasks.ok) {
      message.dataset.state = 'error'
      message.textContent = tasks.msg
      return
    }
    const nowS = Date.now() / 1000
    list.replaceChildren(...tasks.tasks.map((row) => card(row, nowS)))
    if (!tasks.tasks.length) list.append(h('div', { className: 'apikley-note', textContent: 'No tasks yet.' }))
  }

  refreshButton.onclick = refresh
  root.replaceChildren(h('div', { className: 'apikley-panel' },
    h('div', { className: 'apikley-row' }, h('strong', { textContent: 'Recent apikley tasks' }), refreshButton),
    balance, message, list,
    h('div', {
      className: 'apikley-note', textContent: 'Costs marked ~ are estimates; collecting never creates a task.'
    })))
  void refresh()
  const timer = setInterval(() => (root.isConnected ? refresh() : clearInterval(timer)), REFRESH_MS)
}

/** The panel in a modal dialog (used from Settings, and wherever there is no sidebar). */
export function openTasksDialog() {
  const inner = h('div')
  const close = h('button', { className: 'apikley-button', textContent: 'Close' })
  const dialog = h('dialog', { className: 'apikley-dialog' }, inner, close)
  close.onclick = () => dialog.close()
  dialog.addEventListener('close', () => dialog.remove())
  document.body.append(dialog)
  renderTasksPanel(inner)
  dialog.showModal()
}
