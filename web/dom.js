// One tiny element builder for the pack's DOM glue.

/** h('button', {className: 'x', onclick}, 'Save') */
export function h(tag, props = {}, ...children) {
  const element = Object.assign(document.createElement(tag), props)
  element.append(...children.filter((child) => child != null && child !== false))
  return element
}
