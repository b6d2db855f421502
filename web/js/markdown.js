// A Markdown note as plain text for the canvas: links and images by their text, emphasis,
// code marks and heading marks dropped. Only for showing; the note keeps its Markdown. Pure:
// unit-tested in node.

/**
 * @param {string} markdown
 * @returns {string}
 */
export function markdownText(markdown) {
  return String(markdown)
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/^\s{0,3}#{1,6}\s+/gm, "")
    .replace(/^\s{0,3}>\s?/gm, "")
    .replace(/(\*\*|__)(.+?)\1/g, "$2")
    .replace(/(^|[^\w*])[*_](\S[^*_]*?)[*_](?=[^\w*]|$)/g, "$1$2")
    .replace(/`+([^`]*)`+/g, "$1")
    .replace(/<\/?[a-z][^>]*>/gi, "");
}
