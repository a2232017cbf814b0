// ReDoc over the panel's own spec (fetched with the page's token; files served locally).
"use strict";
(async () => {
  const token = new URLSearchParams(location.search).get("token");
  const response = await fetch("/api/openapi.json", { headers: token ? { Authorization: "Bearer " + token } : {} });
  Redoc.init(await response.json(), {}, document.getElementById("redoc"));
})();
