// swagger-ui-dist ships no types: the part of its ES bundle that api-docs/main.ts uses.
declare module 'swagger-ui-dist/swagger-ui-es-bundle.js' {
  interface SwaggerUIOptions {
    url: string
    dom_id: string
    queryConfigEnabled?: boolean
    validatorUrl?: string | null
    deepLinking?: boolean
    docExpansion?: 'list' | 'full' | 'none'
    defaultModelsExpandDepth?: number
    displayRequestDuration?: boolean
    filter?: boolean | string
    tryItOutEnabled?: boolean
    persistAuthorization?: boolean
    onComplete?: () => void
  }
  interface SwaggerUI {
    /** Authorizes a security scheme of the document by name (an HTTP bearer one too). */
    preauthorizeApiKey(scheme: string, value: string): void
  }
  const SwaggerUIBundle: (options: SwaggerUIOptions) => SwaggerUI
  export default SwaggerUIBundle
}
