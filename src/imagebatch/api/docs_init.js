// Starts Swagger UI on /docs (a file, not an inline script: the page's CSP allows no inline code).
const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  domNode: root,
  deepLinking: true,
  validatorUrl: null, // no badge fetched from another site
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
