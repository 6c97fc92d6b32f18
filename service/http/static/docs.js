// Swagger UI on this server's /openapi.json. The online validator is off: its badge would be
// fetched from validator.swagger.io, and this page loads nothing from elsewhere.
"use strict";

window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    displayRequestDuration: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 1,
    validatorUrl: null,
  });
});
