// Frontend extension of the Wan 2.6 (apikley) pack: the API key, price and budget settings, the cost
// badge on the generating nodes, the run's total by the Run button (and a confirmation above a
// threshold), the per-node run summary, and the recent-tasks panel.
// The logic lives in ./lib (pure, tested with node --test); these modules are the DOM glue.
import { app } from '../../scripts/app.js'
import { renderBudgetEntry } from './budget_entry.js'
import { h } from './dom.js'
import { renderKeyEntry } from './key_entry.js'
import { isPackNode, stampPackIds } from './lib/pack_id.js'
import { addCostBadge } from './node_labels.js'
import { renderOverrideEntry, renderPricesEntry } from './prices_entry.js'
import { costFor, loadServerPrices, migrateBrowserOverride } from './prices_state.js'
import { confirmCostlyRuns, THRESHOLD_SETTING } from './run_confirm.js'
import { showRunTotal } from './run_total.js'
import { watchRuns } from './run_watch.js'
import { openTasksDialog, renderTasksPanel } from './tasks_panel.js'

const GENERATING = new Set(['ApikleyWan26V2V', 'ApikleyWan26V2VSubmit'])
const CATEGORY = 'apikley Wan 2.6'

function widgetValue(node, name) {
  return node.widgets?.find((w) => w.name === name)?.value
}

function addStylesheet() {
  const href = new URL('./apikley_wan.css', import.meta.url).href
  document.head.append(h('link', { rel: 'stylesheet', href }))
}

function addSidebarTab() {
  const manager = app.extensionManager
  if (typeof manager?.registerSidebarTab !== 'function') return // Settings > "Recent tasks…" remains
  manager.registerSidebarTab({
    id: 'apikley-tasks', icon: 'pi pi-video', title: 'apikley', tooltip: 'Recent apikley tasks',
    type: 'custom', render: renderTasksPanel
  })
}

app.registerExtension({
  name: 'apikley.wan26',
  settings: [
    {
      // A custom entry whose value is never set: the key goes to the pack's route, not to the
      // settings store (which would write it to comfy.settings.json).
      id: 'ApikleyWan.ApiKey',
      category: [CATEGORY, 'Account', 'API key'],
      name: 'API key',
      tooltip: 'Checked with the API, then saved in ComfyUI\'s user folder (apikley_wan/api_key, mode 600). ' +
        'Only a fingerprint is ever shown. APIKLEY_API_KEY in the environment wins over it.',
      type: () => renderKeyEntry({ openTasks: openTasksDialog }),
      defaultValue: ''
    },
    {
      // Like the caps: saved on the server (user/apikley_wan/prices.json), where the budget guard, the status
      // line and the journal count in it too. A value this browser kept here before is moved there once.
      id: 'ApikleyWan.PriceOverride',
      category: [CATEGORY, 'Prices', 'Override'],
      name: 'Price override (credits per run)',
      tooltip: 'Leave empty to use the pack\'s table. Replace entries like: 10/1080p=200, usd_per_credit=0.005. ' +
        'Costs shown on nodes, the run\'s total and the budget guard all use it; they are estimates.',
      type: renderOverrideEntry,
      defaultValue: ''
    },
    {
      id: 'ApikleyWan.PricesInForce',
      category: [CATEGORY, 'Prices', 'In force'],
      name: 'Prices in force',
      type: renderPricesEntry,
      defaultValue: ''
    },
    {
      id: THRESHOLD_SETTING,
      category: [CATEGORY, 'Run', 'Ask above'],
      name: 'Ask before a run costing more than (USD)',
      tooltip: 'Queueing a graph whose estimated cost is above this shows its total and each node\'s part first; ' +
        'Cancel queues nothing. 0 = always ask, empty = never ask. Re-used results count as 0.',
      type: 'text',
      defaultValue: '2'
    },
    {
      // Like the key: posted to the pack's route (the budget guard reads it there), not kept in the settings file.
      id: 'ApikleyWan.Budget',
      category: [CATEGORY, 'Budget', 'Caps'],
      name: 'Budget guard',
      tooltip: 'Every new paid task is checked against these caps before anything is uploaded; re-using or ' +
        'collecting a task never is. Empty = no cap. APIKLEY_BUDGET_SESSION_USD, APIKLEY_BUDGET_DAY_USD and ' +
        'APIKLEY_MIN_BALANCE in ComfyUI\'s environment win.',
      type: renderBudgetEntry,
      defaultValue: ''
    }
  ],
  async setup() {
    addStylesheet()
    addSidebarTab()
    watchRuns()
    confirmCostlyRuns()
    await loadServerPrices()
    await migrateBrowserOverride()
    showRunTotal()
  },
  nodeCreated(node) {
    // every pack node names the pack (as Manager would): a receiver without it is offered its install
    if (isPackNode(node)) node.properties = stampPackIds(node.properties)
    if (!GENERATING.has(node.comfyClass)) return
    addCostBadge(node, () => costFor(widgetValue(node, 'duration'), widgetValue(node, 'resolution')))
  }
})
