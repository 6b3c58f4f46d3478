// The API reference at /api/docs (the second Vite entry, api-docs.html): Swagger UI
// renders the server's OpenAPI document. Everything is bundled from node_modules and
// served by the server itself under its CSP (no inline scripts or styles, no eval, no
// remote fonts): Swagger UI's prebuilt bundle works under that as it is.
import SwaggerUIBundle from 'swagger-ui-dist/swagger-ui-es-bundle.js'
import 'swagger-ui-dist/swagger-ui.css'
import './api-docs.css'
import { sessionToken } from './session'

/** The security scheme the server declares (`BearerAuth` in server/src/ops.rs). */
const SCHEME = 'bearer'

if (document.getElementById('api-reference')) {
  const token = sessionToken(localStorage, Date.now())
  const ui = SwaggerUIBundle({
    url: '/api/openapi.json',
    dom_id: '#api-reference',
    // Never take a spec or config URL from the query string (Swagger UI's known XSS vector).
    queryConfigEnabled: false,
    // The default would send the document to validator.swagger.io for a badge.
    validatorUrl: null,
    deepLinking: true,
    docExpansion: 'list',
    defaultModelsExpandDepth: 0,
    displayRequestDuration: true,
    filter: true,
    tryItOutEnabled: true,
    // A pasted token lives as long as the tab: not in localStorage.
    persistAuthorization: false,
    // "Authorize" offers the bearer scheme: paste an access token or a qlb_ API token.
    // Signed in to the app in this browser, it is filled in already.
    onComplete: () => {
      if (token) ui.preauthorizeApiKey(SCHEME, token)
    },
  })
}
