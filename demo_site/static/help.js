// Opens the Porchlight widget through its host API, once the loader has defined it.
document.getElementById("open-chat")?.addEventListener("click", () => {
  if (typeof window.Porchlight === "function") window.Porchlight("open");
});
