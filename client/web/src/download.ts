/** Saves a blob as a file: an object URL and a temporary `<a download>` (the bearer
 *  token is not a cookie, so a plain link to the API could not authenticate). */
export function saveBlob(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}
