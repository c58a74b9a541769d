// The tasks panel (sidebar tab, or a dialog where the sidebar API is missing): what each task bought —
// prompt, a playable preview, when, cost, state, file — and what can be done with it: play, copy its
// id or folder, load it into a Load Video node, collect it again, link a lost create to the task id the
// user found, abandon it. A result .mp4 dropped on the panel turns back into its task. What a row says and
// offers is in lib/task_rows.js.
import { api } from '../../scripts/api.js'
import { app } from '../../scripts/app.js'
import { h } from './dom.js'
import { balanceText } from './lib/format.js'
import {
  abandonQuestion, actions, explanation, FILTERS, filterRows, isVideoFile, linkQuestion, pastedTaskId, rowCells,
  stateGroup
} from './lib/task_rows.js'
import { getBalance, getJson, packUrl, postJson } from './pack_api.js'

const REFRESH_MS = 15000
const COPIED_MS = 2000
const FOLDER_TIP = 'A browser cannot open a folder on your computer: this copies its path, to paste into ' +
  'your file manager.'

/** Text to the clipboard; where the Clipboard API is missing (plain http on a LAN) the old way. */
async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text)
    return true
  } catch {
    const area = h('textarea', { value: text, style: 'position:fixed;opacity:0' })
    document.body.append(area)
    area.select()
    const done = document.execCommand('copy')
    area.remove()
    return done
  }
}

/** A Load Video node in the open graph, in view, with ``filename`` (now in the input folder) selected. */
function addLoadVideoNode(filename) {
  const node = window.LiteGraph.createNode('LoadVideo')
  const widget = node?.widgets?.find((w) => w.name === 'file')
  if (!widget) return false
  const values = widget.options?.values
  if (Array.isArray(values) && !values.includes(filename)) values.push(filename) // listed without a reload
  const [x, y, width, height] = app.canvas.visible_area ?? [0, 0, 800, 600]
  node.pos = [x + width / 2 - 160, y + height / 3]
  app.graph.add(node)
  widget.value = filename
  widget.callback?.(filename) // the node's own preview follows its value
  app.canvas.selectNode?.(node)
  app.graph.setDirtyCanvas(true, true)
  return true
}

/** A file dropped on the panel, uploaded the way Load Video uploads (ComfyUI's public route). */
async function uploadToInput(file) {
  const body = new FormData()
  body.append('image', file)
  body.append('type', 'input')
  const resp = await api.fetchApi('/upload/image', { method: 'POST', body })
  if (!resp.ok) throw new Error(`the upload failed (HTTP ${resp.status})`)
  return resp.json()
}

export function renderTasksPanel(root) {
  const balance = h('div', { className: 'apikley-note' })
  const message = h('div', { className: 'apikley-note apikley-result', role: 'status' })
  const list = h('div', { className: 'apikley-tasks' })
  const refreshButton = h('button', { className: 'apikley-button', textContent: 'Refresh' })
  const filterBar = h('div', { className: 'apikley-filter', role: 'group', ariaLabel: 'Show tasks' })
  const dropZone = h('div', {
    className: 'apikley-drop', textContent: 'Drop a result .mp4 here to find its task (free: nothing is created).'
  })
  const cards = new Map() // entry id -> {key, element, when}: unchanged rows keep their element (a playing video plays on)
  const collecting = new Set() // task ids whose Collect runs: their card offers Stop waiting
  let rows = []
  let filter = 'all'

  function say(text, ok) {
    message.dataset.state = ok ? 'ok' : 'error'
    message.textContent = text
  }

  async function collect(row) {
    collecting.add(row.task_id)
    render()
    const answer = await postJson(`tasks/${encodeURIComponent(row.task_id)}/collect`)
    collecting.delete(row.task_id)
    if (answer.stopped) {
      say(`Stopped waiting for task ${row.task_id}. It keeps running at the provider and stays in the journal: ` +
        'Collect it later at no new charge.', true)
    } else {
      say(answer.ok ? `Saved ${answer.task.result_path}` : answer.msg, answer.ok)
    }
    await refresh()
  }

  async function stopCollect(row, button) {
    button.disabled = true
    button.textContent = 'Stopping…'
    await postJson(`tasks/${encodeURIComponent(row.task_id)}/collect/cancel`) // the collect's answer says the rest
  }

  async function copy(button, text, what) {
    const done = await copyText(text)
    say(done ? `Copied ${what}: ${text}` : `Could not copy; select it here: ${text}`, done)
    if (!done) return
    const label = button.textContent
    button.textContent = 'Copied ✓'
    button.dataset.copied = 'true'
    setTimeout(() => {
      button.textContent = label
      delete button.dataset.copied
    }, COPIED_MS)
  }

  async function loadVideo(row, button) {
    button.disabled = true
    const answer = await postJson(`tasks/${encodeURIComponent(row.task_id)}/load_video`)
    button.disabled = false
    if (!answer.ok) return say(answer.msg, false)
    const added = addLoadVideoNode(answer.filename)
    say(added ? `Added a Load Video node with ${answer.filename} (in ComfyUI's input folder).`
      : `${answer.filename} is in ComfyUI's input folder; this ComfyUI has no Load Video node.`, added)
  }

  async function abandon(row, button) {
    if (!window.confirm(abandonQuestion(row))) return
    button.disabled = true
    const answer = await postJson(`entries/${row.entry_id}/abandon`)
    await refresh()
    say(answer.ok ? `Entry ${row.entry_id} abandoned: the next run with the same inputs creates a new task.`
      : answer.msg, answer.ok)
  }

  async function link(row, button) {
    const taskId = pastedTaskId(window.prompt(linkQuestion(row)))
    if (!taskId) return
    button.disabled = true
    const answer = await postJson(`entries/${row.entry_id}/link`, { task_id: taskId })
    button.disabled = false // a refused id leaves the row (and this button) as it was: try another
    await refresh()
    say(answer.ok ? `Entry ${row.entry_id} is now task ${taskId}: the same inputs re-use it (no new charge); ` +
      'Collect downloads its result.' : answer.msg, answer.ok)
  }

  function play(video) {
    video.closest('.apikley-task')?.classList.add('apikley-playing')
    video.controls = true
    video.muted = false
    void video.play().catch(() => {})
  }

  function thumbnail(row) {
    if (!row.result_exists) {
      return h('div', { className: 'apikley-thumb apikley-thumb-empty', textContent: 'no video' })
    }
    // #t=0.1: the first frame shows before anything plays
    const video = h('video', {
      className: 'apikley-thumb', preload: 'metadata', muted: true, playsInline: true,
      src: `${packUrl(`tasks/${encodeURIComponent(row.task_id)}/video`)}#t=0.1`, title: 'Click to play'
    })
    video.onclick = () => (video.controls ? null : play(video))
    return video
  }

  function button(label, onclick, title) {
    const element = h('button', { className: 'apikley-button', textContent: label, title: title ?? '' })
    element.onclick = () => onclick(element)
    return element
  }

  function actionButtons(row, video) {
    const make = {
      play: () => button('▶ Play', () => play(video)),
      'copy-id': () => button('Copy id', (b) => copy(b, row.task_id, 'task id'), row.task_id),
      'copy-folder': () => button('Copy folder path', (b) => copy(b, row.result_folder, 'folder path'),
        `${row.result_folder}\n${FOLDER_TIP}`),
      'load-video': () => button('Load in Load Video', (b) => loadVideo(row, b),
        'Copies the result into ComfyUI\'s input folder and adds a Load Video node with it.'),
      collect: () => collecting.has(row.task_id) ? collectingButtons(row)
        : button(rowCells(row, 0).collect, () => collect(row), 'Downloads the result of this task; never creates a task.'),
      link: () => button('I know the task id…', (b) => link(row, b),
        'Link the task you found in your apikley task log to this entry: its inputs then re-use it.'),
      abandon: () => button('Abandon…', (b) => abandon(row, b),
        'Give up on this lost create, so the same inputs may create a new task.')
    }
    return h('div', { className: 'apikley-actions' }, ...actions(row).flatMap((name) => make[name]()))
  }

  /** While a Collect runs: what it is doing, and (while it waits for the provider) a way to stop waiting. */
  function collectingButtons(row) {
    const busy = button(row.state === 'success' ? 'Downloading…' : 'Waiting for the task…', () => {})
    busy.disabled = true
    if (row.state === 'success') return [busy]
    return [busy, button('Stop waiting', (b) => stopCollect(row, b),
      'Stops waiting here. The task keeps running at the provider and stays in the journal: Collect it later ' +
      'at no new charge.')]
  }

  // one card per task: it reads in the narrow sidebar as well as in the dialog
  function card(row, nowS) {
    const cells = rowCells(row, nowS)
    const thumb = thumbnail(row)
    const when = h('span', { className: 'apikley-when', textContent: cells.created, title: cells.createdExact })
    const why = explanation(row)
    const item = h('div', { className: 'apikley-task' },
      h('div', { className: 'apikley-prompt', textContent: cells.prompt, title: row.prompt || '' }),
      h('div', { className: 'apikley-task-main' }, thumb,
        h('div', { className: 'apikley-task-text' },
          h('div', { className: 'apikley-meta' },
            h('span', { className: 'apikley-state', textContent: cells.state }), when),
          cells.cost && h('div', { textContent: cells.cost }),
          h('div', { className: 'apikley-note' },
            h('span', { textContent: cells.task, title: row.task_id ?? '' }),
            cells.settings && ` · ${cells.settings}`))),
      cells.file && h('div', { className: 'apikley-note apikley-file', textContent: cells.file,
        title: row.result_path ?? '' }),
      why && h('div', { className: 'apikley-explain' }, h('strong', { textContent: why.title }),
        h('div', { textContent: why.text })),
      actionButtons(row, thumb))
    Object.assign(item.dataset, { state: row.state, group: stateGroup(row) ?? 'other', entry: row.entry_id })
    return { element: item, when }
  }

  function renderFilter() {
    const counts = Object.fromEntries(FILTERS.map((f) => [f, filterRows(rows, f).length]))
    filterBar.replaceChildren(...FILTERS.map((f) => {
      const b = h('button', {
        className: 'apikley-button', textContent: `${f[0].toUpperCase()}${f.slice(1)} ${counts[f]}`
      })
      b.dataset.filter = f
      b.setAttribute('aria-pressed', String(f === filter))
      b.onclick = () => {
        filter = f
        render()
      }
      return b
    }))
  }

  function render() {
    const nowS = Date.now() / 1000
    const shown = filterRows(rows, filter)
    const keep = new Set(shown.map((row) => row.entry_id))
    for (const id of cards.keys()) if (!keep.has(id)) cards.delete(id)
    list.replaceChildren(...shown.map((row) => {
      const key = JSON.stringify([row, collecting.has(row.task_id)])
      let entry = cards.get(row.entry_id)
      if (entry?.key !== key) {
        entry = { key, ...card(row, nowS) }
        cards.set(row.entry_id, entry)
      } else {
        entry.when.textContent = rowCells(row, nowS).created
      }
      return entry.element
    }))
    if (!shown.length) {
      list.append(h('div', { className: 'apikley-note', textContent: rows.length ? `No ${filter} tasks.` : 'No tasks yet.' }))
    }
    renderFilter()
  }

  async function refresh() {
    const [tasks, credits] = await Promise.all([getJson('tasks?limit=30'), getBalance()])
    balance.textContent = `Balance: ${balanceText(credits)}`
    if (!tasks.ok) return say(tasks.msg, false)
    rows = tasks.tasks
    render()
  }

  async function fromFile(file) {
    if (!isVideoFile(file.name)) return say(`${file.name} is not a video file.`, false)
    say(`Reading ${file.name}…`, true)
    try {
      const uploaded = await uploadToInput(file)
      const answer = await postJson('tasks/from_file',
        { filename: uploaded.name, subfolder: uploaded.subfolder ?? '', type: 'input' })
      if (!answer.ok) return say(answer.msg || `Task From File is not available (HTTP ${answer.status}).`, false)
      const task = answer.task
      say(`${file.name} is task ${task.task_id} (${rowCells(task, 0).state})` +
        (task.collectable && !task.result_exists ? ': Collect downloads it again at no new charge.' : '.'), true)
      filter = 'all'
      await refresh()
      const found = cards.get(task.entry_id)?.element
      found?.classList.add('apikley-found')
      found?.scrollIntoView({ block: 'nearest' })
    } catch (err) {
      say(`${file.name}: ${err?.message ?? err}`, false)
    }
  }

  const panel = h('div', { className: 'apikley-panel' },
    h('div', { className: 'apikley-row' }, h('strong', { textContent: 'Recent apikley tasks' }), refreshButton),
    balance, filterBar, dropZone, message, list,
    h('div', {
      className: 'apikley-note',
      textContent: 'Costs: "reported" is the API\'s figure, "measured" the balance difference, ~ an estimate. ' +
        'Collecting never creates a task.'
    }))
  panel.addEventListener('dragover', (event) => {
    if (![...(event.dataTransfer?.types ?? [])].includes('Files')) return
    event.preventDefault()
    panel.classList.add('apikley-dragging')
  })
  panel.addEventListener('dragleave', (event) => {
    if (!panel.contains(event.relatedTarget)) panel.classList.remove('apikley-dragging')
  })
  panel.addEventListener('drop', (event) => {
    const file = event.dataTransfer?.files?.[0]
    if (!file) return
    event.preventDefault()
    event.stopPropagation() // not onto the canvas underneath
    panel.classList.remove('apikley-dragging')
    void fromFile(file)
  })
  refreshButton.onclick = refresh
  root.replaceChildren(panel)
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
