// paydesk help pages: results as you type in the search box, and "링크 복사" buttons for support
// agents. The pages work without this script; it only adds to them. Snippets from the API are already
// HTML-escaped (only <mark> is markup); every other value is set as text.
document.addEventListener('DOMContentLoaded', function () {
  'use strict';
  var input = document.querySelector('input[data-typeahead]');
  var box = document.getElementById('live-results');
  var timer = null;
  var latest = 0;

  function tracked(url, query) {
    var hash = url.indexOf('#');
    var path = hash < 0 ? url : url.slice(0, hash);
    var fragment = hash < 0 ? '' : url.slice(hash);
    return path + '?from=search&q=' + encodeURIComponent(query) + fragment;
  }

  function render(data, query) {
    box.textContent = '';
    if (data.fallback) {
      var notice = document.createElement('p');
      notice.className = 'notice';
      notice.textContent = '맞는 도움말을 찾지 못했어요. 많이 찾는 도움말입니다.';
      box.appendChild(notice);
    }
    var list = document.createElement('ul');
    list.className = 'hits';
    data.hits.forEach(function (hit) {
      var item = document.createElement('li');
      item.className = 'hit';
      var link = document.createElement('a');
      link.href = tracked(hit.url, query);
      link.textContent = hit.title;
      item.appendChild(link);
      if (hit.section) {
        var section = document.createElement('div');
        section.className = 'muted';
        section.textContent = hit.section;
        item.appendChild(section);
      }
      var snippet = document.createElement('p');
      snippet.className = 'snippet';
      snippet.innerHTML = hit.snippet;
      item.appendChild(snippet);
      list.appendChild(item);
    });
    box.appendChild(list);
  }

  if (input && box && window.fetch) {
    input.addEventListener('input', function () {
      clearTimeout(timer);
      var query = input.value.trim();
      if (!query) {
        box.textContent = '';
        return;
      }
      timer = setTimeout(function () {
        var mine = ++latest;
        fetch('/v1/help/search?audience=shopper&typeahead=true&limit=6&q=' + encodeURIComponent(query))
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (data) { if (data && mine === latest) { render(data, query); } })
          .catch(function () {});
      }, 200);
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll('button[data-copy]'), function (button) {
    button.hidden = false;
    button.addEventListener('click', function () {
      var url = button.getAttribute('data-copy');
      var label = button.textContent;
      var done = function () {
        button.textContent = '복사했어요';
        setTimeout(function () { button.textContent = label; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(url).then(done, function () { window.prompt('링크를 복사하세요', url); });
      } else {
        window.prompt('링크를 복사하세요', url);
      }
    });
  });
});
