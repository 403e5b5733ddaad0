// paydesk help widget for a storefront's own payment-failure page:
//   <script src="https://PAYDESK/help/widget.js" data-error-message="..." defer></script>
// Optional: data-error-code, data-pay-method, data-card-company, data-amount, data-target (a CSS
// selector to render into; by default the widget appears right after the script tag).
// It asks paydesk (the script's own origin) for suggestions and offers a search box. Snippets from the
// API are already HTML-escaped (only <mark> is markup); every other value is set as text.
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || !window.fetch) { return; }
  var origin = new URL(script.src, window.location.href).origin;
  var data = function (name) { return (script.getAttribute('data-' + name) || '').trim(); };

  if (!document.getElementById('paydesk-help-style')) {
    var style = document.createElement('style');
    style.id = 'paydesk-help-style';
    style.textContent =
      '.paydesk-help{font-family:-apple-system,BlinkMacSystemFont,"Apple SD Gothic Neo","Noto Sans KR","Malgun Gothic",sans-serif;' +
      'border:1px solid #e3e6ea;border-radius:12px;padding:16px;margin:16px 0;background:#fff;color:#1f2328;line-height:1.6;word-break:keep-all}' +
      '.paydesk-help h2{font-size:1.1rem;margin:0 0 8px}' +
      '.paydesk-help ul{list-style:none;padding:0;margin:0}' +
      '.paydesk-help li{padding:8px 0;border-top:1px solid #eef0f2}' +
      '.paydesk-help a{color:#0b57d0;font-weight:600}' +
      '.paydesk-help .paydesk-help-section{color:#59636e;font-size:.875rem}' +
      '.paydesk-help p{margin:4px 0 0;font-size:.9rem;color:#3d444d}' +
      '.paydesk-help mark{background:#ffe48a}' +
      '.paydesk-help form{display:flex;gap:8px;margin-top:12px}' +
      '.paydesk-help input{flex:1;min-height:44px;font-size:1rem;padding:8px 10px;border:1px solid #c9ced4;border-radius:8px}' +
      '.paydesk-help button{min-height:44px;padding:8px 16px;border:0;border-radius:8px;background:#0b57d0;color:#fff;font-size:1rem}';
    document.head.appendChild(style);
  }

  var root = document.createElement('section');
  root.className = 'paydesk-help';
  root.setAttribute('lang', 'ko');
  var title = document.createElement('h2');
  title.textContent = '결제가 안 되나요? 이렇게 해 보세요';
  var list = document.createElement('ul');
  var form = document.createElement('form');
  form.setAttribute('role', 'search');
  var input = document.createElement('input');
  input.type = 'search';
  input.placeholder = '예: 결제창이 안 떠요';
  input.setAttribute('aria-label', '도움말 검색');
  var button = document.createElement('button');
  button.type = 'submit';
  button.textContent = '검색';
  form.appendChild(input);
  form.appendChild(button);
  var more = document.createElement('a');
  more.href = origin + '/help';
  more.target = '_blank';
  more.rel = 'noopener';
  more.textContent = '도움말 센터 전체 보기';
  var footer = document.createElement('p');
  footer.appendChild(more);
  root.appendChild(title);
  root.appendChild(list);
  root.appendChild(form);
  root.appendChild(footer);

  var target = null;
  try { target = data('target') && document.querySelector(data('target')); } catch (e) { target = null; }
  if (target) {
    target.appendChild(root);
  } else {
    script.parentNode.insertBefore(root, script.nextSibling);
  }

  function link(url, query) {
    var hash = url.indexOf('#');
    var path = hash < 0 ? url : url.slice(0, hash);
    var fragment = hash < 0 ? '' : url.slice(hash);
    var q = query ? '&q=' + encodeURIComponent(query) : '';
    return origin + path + '?from=widget' + q + fragment;
  }

  function render(hits, query) {
    list.textContent = '';
    hits.forEach(function (hit) {
      var item = document.createElement('li');
      var a = document.createElement('a');
      a.href = link(hit.url, query);
      a.target = '_blank';
      a.rel = 'noopener';
      a.textContent = hit.title;
      item.appendChild(a);
      if (hit.section) {
        var section = document.createElement('div');
        section.className = 'paydesk-help-section';
        section.textContent = hit.section;
        item.appendChild(section);
      }
      var snippet = document.createElement('p');
      snippet.innerHTML = hit.snippet;
      item.appendChild(snippet);
      list.appendChild(item);
    });
  }

  function load(path, params, query) {
    var search = new URLSearchParams();
    Object.keys(params).forEach(function (key) { if (params[key]) { search.set(key, params[key]); } });
    return fetch(origin + path + '?' + search.toString())
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body || !body.hits) { return false; }
        render(body.hits, query);
        return true;
      })
      .catch(function () { return false; });
  }

  var message = data('error-message');
  // Shoppers read this widget: `audience` says so even where paydesk's default would too.
  load('/v1/help/suggest', {
    audience: 'shopper',
    message: message,
    code: data('error-code'),
    payMethod: data('pay-method'),
    cardCompany: data('card-company'),
    amount: data('amount')
  }, message).then(function (shown) {
    // A card company or amount paydesk does not know must not cost the shopper their help: try
    // the code with the message, then the message alone.
    return shown || load('/v1/help/suggest', { audience: 'shopper', message: message, code: data('error-code') }, message);
  }).then(function (shown) {
    if (!shown) { load('/v1/help/suggest', { audience: 'shopper', message: message }, message); }
  });

  var timer = null;
  var search = function (typeahead) {
    var query = input.value.trim();
    if (!query) { return; }
    load('/v1/help/search', { q: query, audience: 'shopper', limit: '5', typeahead: typeahead ? 'true' : '' }, query);
  };
  input.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(function () { search(true); }, 250);
  });
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    clearTimeout(timer);
    search(false);
  });
})();
