// The portal's progressive enhancement: every page works without it (the code stays
// selectable text, the pickers still pick). Served from /static/portal.js under the
// pages' CSP (script-src 'self', Trusted Types required): no inline script, no HTML
// built from strings — only textContent and elements. The words are the page's own
// (data attributes written by the server), so the text stays in one place.
(function () {
  'use strict';

  // The receipt: a button that copies the tracking code, shown only when script runs.
  var button = document.getElementById('copy-code');
  var code = document.getElementById('tracking-code');
  var said = document.getElementById('copy-status');
  if (button && code && said) {
    var text = code.textContent.trim();
    var tell = function (words) {
      said.textContent = words;
    };
    // When the clipboard API is missing or refused: select the code, so the phone's own
    // 复制 is one tap away, and try the old command.
    var fallback = function () {
      var range = document.createRange();
      range.selectNodeContents(code);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      var copied = false;
      try {
        copied = document.execCommand('copy');
      } catch (e) {
        copied = false;
      }
      tell(copied ? button.dataset.copied : button.dataset.failed);
    };
    button.hidden = false;
    button.addEventListener('click', function () {
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(function () {
          tell(button.dataset.copied);
        }, fallback);
      } else {
        fallback();
      }
    });
  }

  // The letter form: the names of the chosen files under each picker.
  var lists = document.querySelectorAll('[data-chosen-for]');
  Array.prototype.forEach.call(lists, function (list) {
    var input = document.getElementById(list.dataset.chosenFor);
    if (!input) return;
    var show = function () {
      while (list.firstChild) list.removeChild(list.firstChild);
      var files = Array.prototype.slice.call(input.files || []);
      list.hidden = files.length === 0;
      files.forEach(function (file) {
        var item = document.createElement('li');
        var kib = Math.max(1, Math.round(file.size / 1024));
        item.textContent =
          file.name + '（' + (kib >= 1024 ? (kib / 1024).toFixed(1) + ' MB' : kib + ' KB') + '）';
        list.appendChild(item);
      });
    };
    input.addEventListener('change', show);
    show();
  });
})();
