// Swagger UI over the panel's own spec, with the page's token sent on every request (files served locally).
"use strict";
const docsToken = new URLSearchParams(location.search).get("token");
const withToken = (request) => {
  if (docsToken) request.headers.Authorization = "Bearer " + docsToken;
  return request;
};
window.ui = SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#swagger-ui",
  requestInterceptor: withToken,
  deepLinking: true,
});
