// The organization's settings: its name, whether the server's front page
// lists it and the time zone its page shows times in; the public page's
// look (logo, accent colour, header links, footer); the host names it is
// served at the root of (custom domains); the words of the
// incidents monitors open; and, for owners, deleting it. Changes made
// elsewhere show at once in a form not being edited.

import { ApiError } from "../session.js";
import { h, add, clear, redraw, field, fieldset, form, onSubmit, actions, formDialog, say, value, uid } from "./dom.js";

const MAX_LINKS = 5;
const MAX_DOMAINS = 10; // server/domain/hosts.py

// server/domain/looks.py: the page's light backgrounds, and what AA asks.
const LIGHT = ["#ffffff", "#f6f7f9"];
const AA = 4.5;
const HEX = /^#[0-9a-f]{6}$/i;

function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

// The words of the automatic incidents (server/domain/texts.py), in the
// order they are used.
const TEXTS = [
  ["down_title", "Title: a service is down"],
  ["degraded_title", "Title: a service is degraded"],
  ["down_body", "First update: down"],
  ["degraded_body", "First update: degraded"],
  ["recovering_body", "Update: responding again"],
  ["resolved_body", "Update: resolved after a while"],
  ["recovered_body", "Update: resolved at once"],
  ["flapping_body", "Update: flapping"],
  ["stable_body", "Update: stable again"],
];

function zones() {
  try {
    return ["UTC", ...Intl.supportedValuesOf("timeZone").filter((z) => z !== "UTC")];
  } catch (e) {
    return ["UTC"];
  }
}

// A form that says whether it was edited since it was drawn.
function tracked(f) {
  f.dataset.dirty = "";
  f.addEventListener("input", () => {
    f.dataset.dirty = "1";
  });
  return f;
}

export function settingsView(app, main) {
  const orgBox = h("div", { id: "settings-org" });
  const lookBox = h("div", { id: "settings-look" });
  const domainsBox = h("div", { id: "settings-domains" });
  const textsBox = h("div", { id: "settings-texts" });
  const dangerBox = h("div", { id: "settings-danger" });
  let org = null;
  let defaults = {};

  add(main, [
    h("div", { class: "view-head" }, h("h1", {}, "Settings")),
    h("p", { class: "lede muted" }, "The organization, and how its public status page looks."),
    h("section", { "aria-labelledby": "org-h" }, h("h2", { id: "org-h" }, "Organization"), orgBox),
    h("section", { "aria-labelledby": "look-h" }, h("h2", { id: "look-h" }, "Public page"), lookBox),
    h("section", { "aria-labelledby": "domains-h" }, h("h2", { id: "domains-h" }, "Custom domains"), domainsBox),
    h("section", { "aria-labelledby": "texts-h" }, h("h2", { id: "texts-h" }, "Words of automatic incidents"), textsBox),
    h("section", { "aria-labelledby": "danger-h", class: "danger-zone" }, h("h2", { id: "danger-h" }, "Danger zone"), dangerBox),
  ]);

  async function save(body, what) {
    org = { ...org, ...(await app.api("PATCH", "", body)) };
    say(`${what} saved.`);
  }

  // -- the organization --------------------------------------------------------------------

  function drawOrg() {
    const listId = uid("zones");
    const f = tracked(
      form("settings-form card", [
        h(
          "div",
          { class: "field-row" },
          field({ label: "Name", name: "name", value: org.name, required: true, autocomplete: "organization" }),
          field({ label: "Time zone", name: "time_zone", value: org.time_zone, list: listId, autocomplete: "off", hint: "The public page shows times in it, e.g. Europe/Paris." }),
        ),
        h("datalist", { id: listId }, zones().map((z) => h("option", { value: z }))),
        field({ label: "List it on the server's front page", name: "listed", type: "checkbox", value: org.listed, hint: "Its status page is public either way; this names it on the front page." }),
        actions(h("button", { type: "submit", class: "primary" }, "Save")),
      ]),
    );
    onSubmit(f, async () => {
      await save({ name: value(f, "name"), time_zone: value(f, "time_zone").trim(), listed: value(f, "listed") }, "The organization's settings are");
      f.dataset.dirty = "";
    });
    redraw(orgBox, () => f);
  }

  // -- the public page's look --------------------------------------------------------------------

  function linkRow(link, i) {
    return h(
      "div",
      { class: "link-row", "data-link": String(i) },
      field({ label: `Label of link ${i + 1}`, name: `header_links[${i}].label`, value: link.label, autocomplete: "off" }),
      field({ label: `URL of link ${i + 1}`, name: `header_links[${i}].url`, type: "url", value: link.url, autocomplete: "off" }),
      h("button", { type: "button", class: "remove-link", onclick: (e) => removeLink(e.currentTarget) }, "Remove", h("span", { class: "vh" }, ` link ${i + 1}`)),
    );
  }

  function linksOf(f) {
    return [...f.querySelectorAll(".link-row")].map((row) => {
      const [label, url] = row.querySelectorAll("input");
      return { label: label.value.trim(), url: url.value.trim() };
    });
  }

  // Links are drawn again from what is typed, so that names follow positions.
  function drawLinks(f, links) {
    const list = f.querySelector(".links");
    clear(list);
    add(list, [links.map(linkRow)]);
    f.querySelector(".add-link").hidden = links.length >= MAX_LINKS;
  }

  function removeLink(button) {
    const f = button.closest("form");
    const row = button.closest(".link-row");
    const links = linksOf(f).filter((_, i) => String(i) !== row.dataset.link);
    drawLinks(f, links);
    f.dataset.dirty = "1";
    f.querySelector(".add-link").focus();
  }

  function contrastWords(colour) {
    if (!colour) return "No accent: the page keeps its own blue.";
    if (!HEX.test(colour)) return "Write it as #rrggbb, e.g. #1a5fb4.";
    const ratio = Math.min(...LIGHT.map((bg) => contrast(colour, bg)));
    const shown = ratio.toFixed(2);
    return ratio >= AA
      ? `Contrast ${shown}:1 on the page: passes WCAG AA (${AA}:1). The dark theme gets a lighter shade of it.`
      : `Contrast ${shown}:1 on the page: too low for links and buttons, which need ${AA}:1 (WCAG AA). Choose a darker shade.`;
  }

  function drawLook() {
    const accent = field({ label: "Accent colour", name: "accent_color", value: org.accent_color || "", placeholder: "#1a5fb4", autocomplete: "off", hint: contrastWords(org.accent_color) });
    const text = accent.querySelector("input");
    const hint = accent.querySelector(".hint");
    hint.classList.add("contrast");
    const pickerId = uid("picker");
    const picker = h("input", { type: "color", id: pickerId, value: org.accent_color || "#0b57d0" });
    const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
    const paint = () => {
      const colour = text.value.trim();
      hint.textContent = contrastWords(colour);
      swatch.style.backgroundColor = HEX.test(colour) ? colour : "transparent";
      if (HEX.test(colour)) picker.value = colour.toLowerCase();
    };
    text.addEventListener("input", paint);
    picker.addEventListener("input", () => {
      text.value = picker.value;
      text.dispatchEvent(new Event("input", { bubbles: true }));
    });
    const f = tracked(
      form("settings-form card look-form", [
        field({ label: "Logo URL", name: "logo_url", type: "url", value: org.logo_url || "", autocomplete: "off", hint: "An https:// address, or a path on this server (/static/…). Shown before the name; leave empty for none." }),
        h("div", { class: "accent-row" }, accent, h("div", { class: "picker" }, h("label", { for: pickerId }, "Pick"), picker, swatch)),
        fieldset("Header links", "header_links", [h("div", { class: "links" }), h("button", { type: "button", class: "add-link", onclick: (e) => addLink(e.currentTarget) }, "Add a link")], `Up to ${MAX_LINKS}, shown in the page's header (your site, support...).`),
        field({ label: "Footer text", name: "footer_text", type: "textarea", rows: 3, value: org.footer_text, hint: "Plain text, up to 500 characters; line breaks are kept." }),
        actions(h("button", { type: "submit", class: "primary" }, "Save the look")),
      ]),
    );
    drawLinks(f, org.header_links);
    onSubmit(f, async () => {
      const logo = value(f, "logo_url").trim();
      const colour = text.value.trim();
      await save(
        {
          logo_url: logo || null,
          accent_color: colour || null,
          header_links: linksOf(f).filter((l) => l.label || l.url),
          footer_text: value(f, "footer_text"),
        },
        "The public page's look is",
      );
      f.dataset.dirty = "";
    });
    redraw(lookBox, () => f);
    paint();
  }

  function addLink(button) {
    const f = button.closest("form");
    const links = [...linksOf(f), { label: "", url: "" }];
    drawLinks(f, links);
    f.dataset.dirty = "1";
    const inputs = f.querySelectorAll(".link-row input");
    inputs[inputs.length - 2].focus();
  }

  // -- custom domains --------------------------------------------------------------------------

  function drawDomains() {
    const held = org.domains || [];
    const f = tracked(
      form("settings-form card domains-form", [
        h("p", { class: "intro" }, "The public page, its history, feeds, badges and the Statuspage-compatible API, at the root of host names of your own (status.example.com/ rather than /status/", app.org, "). Point each name at this server and give it a certificate; the other names keep working."),
        field({ label: "Host names", name: "domains", type: "textarea", rows: 3, value: held.join("\n"), hint: `One per line, up to ${MAX_DOMAINS}, e.g. status.example.com: no scheme, port or path. A name belongs to one organization on this server.` }),
        held.length
          ? h("p", { class: "served-at" }, "Served at ", held.map((host, i) => [i ? ", " : "", h("a", { href: `${location.protocol}//${host}/` }, host)]), ".")
          : h("p", { class: "served-at muted" }, "None claimed: the page is at /status/", app.org, " only."),
        actions(h("button", { type: "submit", class: "primary", "data-key": "save-domains" }, "Save the domains")),
      ]),
    );
    onSubmit(f, async () => {
      const names = value(f, "domains")
        .split(/[\s,]+/)
        .map((name) => name.trim())
        .filter(Boolean);
      await save({ domains: names }, "The custom domains are");
      drawDomains();
    });
    redraw(domainsBox, () => f);
  }

  // -- the words of automatic incidents ---------------------------------------------------------------

  function drawTexts() {
    const own = org.monitor_texts || {};
    const f = tracked(
      form("settings-form card texts-form", [
        h("p", { class: "intro" }, "When a monitor opens or resolves an incident, these are its title and updates. Leave one empty for the default (shown greyed). Placeholders: {service}, {where} (“ from Frankfurt”), {reason}, {changes}, {minutes}."),
        TEXTS.map(([name, label]) =>
          field({ label, name: `monitor_texts.${name}`, type: name.endsWith("_title") ? "text" : "textarea", rows: 2, value: own[name] || "", placeholder: defaults[name] || "" }),
        ),
        actions(h("button", { type: "submit", class: "primary" }, "Save the words")),
      ]),
    );
    onSubmit(f, async () => {
      const texts = {};
      for (const [name] of TEXTS) {
        const text = value(f, `monitor_texts.${name}`).trim();
        if (text && text !== defaults[name]) texts[name] = text;
      }
      await save({ monitor_texts: texts }, "The words of automatic incidents are");
      f.dataset.dirty = "";
    });
    redraw(textsBox, () => f);
  }

  // -- deleting it --------------------------------------------------------------------------

  function drawDanger() {
    if (!app.can("owner")) {
      redraw(dangerBox, () => h("p", { class: "muted" }, "Only an owner can delete the organization."));
      return;
    }
    redraw(dangerBox, () =>
      h(
        "div",
        { class: "card danger-card" },
        h("p", {}, h("strong", {}, "Delete this organization. "), "Its status page, incidents, history, members' access, tokens and channels go with it, and its name is not used again. This cannot be undone."),
        h("button", { type: "button", class: "danger strong", "data-key": "delete-org", onclick: confirmDelete }, "Delete this organization…"),
      ),
    );
  }

  function confirmDelete() {
    const slug = app.org;
    formDialog(`Delete ${org.name}?`, {
      submitLabel: "Delete it for good",
      danger: true,
      intro: `Everything of ${org.name} is deleted: its public page at /status/${slug}, its incidents and history, its members' access. To confirm, type its short name, “${slug}”.`,
      fields: [field({ label: "Short name", name: "confirm", autocomplete: "off", required: true })],
      async submit(f) {
        if (value(f, "confirm").trim() !== slug) {
          throw new ApiError(422, { message: `type “${slug}” to confirm`, field: "confirm" });
        }
        await app.api("DELETE", "");
        await app.refresh();
        say(`${org.name} was deleted.`);
        app.navigate("/admin");
      },
    });
  }

  // -- loading and following -----------------------------------------------------------------

  function drawAll() {
    drawOrg();
    drawLook();
    drawDomains();
    drawTexts();
    drawDanger();
  }

  async function load() {
    try {
      const answer = await app.api("GET", "");
      defaults = answer.monitor_text_defaults || {};
      org = answer;
      drawAll();
    } catch (error) {
      clear(orgBox);
      add(orgBox, [h("p", { class: "error-text", role: "alert" }, `The settings could not be loaded. ${error.message}`), h("button", { type: "button", onclick: load }, "Try again")]);
    }
  }

  for (const box of [orgBox, lookBox, domainsBox, textsBox, dangerBox]) box.append(h("p", { class: "muted", role: "status" }, "Loading…"));
  load();
  return {
    // Changed elsewhere: the forms nobody is editing show it.
    event(e) {
      if (e.name !== "org.updated" || !org) return;
      org = { ...org, ...e.data.org };
      const redrawn = [
        [orgBox, drawOrg],
        [lookBox, drawLook],
        [domainsBox, drawDomains],
        [textsBox, drawTexts],
      ];
      for (const [box, draw] of redrawn) {
        const f = box.querySelector("form");
        if (!f || (!f.dataset.dirty && !f.dataset.busy)) draw();
      }
    },
  };
}
