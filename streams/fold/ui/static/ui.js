/* Session Ledger's incident review room: the pages under /ui/ draw what /ui/api/... answers.
 *
 * The pages hold no data. The API needs the worker's bearer token when it has one: it is read
 * from the URL's fragment (#token=..., which browsers never send) or typed into the box the page
 * shows on a 401, and kept in this tab's sessionStorage. Every value reaches the page as text
 * (textContent), never as markup. The overview reads its API again every few seconds
 * (?every=SECONDS, default 5). For tests and people alike, <body> carries data-ready (first
 * drawing done), data-updates (drawings so far) and data-js-error (a script error, if any).
 */
(function () {
  'use strict';
  var body = document.body;
  window.addEventListener('error', function (e) { body.dataset.jsError = String(e.message); });
  var params = new URLSearchParams(window.location.search);
  var EVERY_MS = Math.max(1, Number(params.get('every') || 5)) * 1000;
  var PLATFORMS = ['pc', 'playstation', 'xbox', 'switch', 'ios', 'android', 'cloud'];
  var charts = {};

  // --- token and API ------------------------------------------------------------------------
  (function takeTokenFromFragment() {
    var fragment = new URLSearchParams(window.location.hash.slice(1));
    if (fragment.get('token')) {
      sessionStorage.setItem('ledger-token', fragment.get('token'));
      history.replaceState(null, '', window.location.pathname + window.location.search);
    }
  })();

  function api(path) {
    var headers = {Accept: 'application/json'};
    var token = sessionStorage.getItem('ledger-token');
    if (token) { headers.Authorization = 'Bearer ' + token; }
    return fetch(path, {headers: headers, cache: 'no-store'}).then(function (response) {
      if (response.status === 401) { askToken(); }
      return response.json().then(function (document) {
        return {status: response.status, document: document};
      });
    });
  }

  function askToken() {
    var box = byId('token-box');
    box.hidden = false;
    byId('token-save').onclick = function () {
      sessionStorage.setItem('ledger-token', byId('token').value.trim());
      box.hidden = true;
      refresh();
    };
  }

  // --- drawing helpers ------------------------------------------------------------------------
  function byId(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === 'text') { node.textContent = attrs[key]; } else if (key === 'className') {
        node.className = attrs[key];
      } else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }

  function fill(id, nodes) {
    var target = byId(id);
    while (target.firstChild) { target.removeChild(target.firstChild); }
    (Array.isArray(nodes) ? nodes : [nodes]).forEach(function (n) { if (n) { target.appendChild(n); } });
  }

  function empty(text) { return el('p', {className: 'empty', text: text}); }

  function hm(iso) { return iso ? iso.slice(11, 16) : '-'; }
  function hms(iso) { return iso ? iso.slice(11, 19) : '-'; }
  function day(iso) { return iso ? iso.slice(0, 10) + ' ' + iso.slice(11, 16) : '-'; }
  function num(v, digits) {
    if (v === null || v === undefined) { return '-'; }
    return Number(v).toLocaleString('en', {maximumFractionDigits: digits === undefined ? 1 : digits});
  }
  function pct(v) { return v === null || v === undefined ? '-' : (Number(v) * 100).toFixed(0) + '%'; }
  function mins(seconds) { return (Number(seconds) / 60).toFixed(1) + ' min'; }

  /* columns: [{key, label, num, format(row) -> string|Node}] */
  function table(columns, rows, rowClass) {
    var head = el('tr', {}, columns.map(function (c) {
      return el('th', {className: c.num ? 'num' : '', text: c.label !== undefined ? c.label : c.key});
    }));
    var lines = rows.map(function (row) {
      var tr = el('tr', {className: rowClass ? rowClass(row) : ''}, columns.map(function (c) {
        var value = c.format ? c.format(row) : row[c.key];
        var cell = el('td', {className: c.num ? 'num' : ''});
        if (value instanceof Node) { cell.appendChild(value); } else {
          cell.textContent = value === null || value === undefined ? '-' : String(value);
        }
        return cell;
      }));
      return tr;
    });
    return el('table', {}, [el('thead', {}, [head]), el('tbody', {}, lines)]);
  }

  function figure(id, label, value) {
    return el('div', {className: 'figure'}, [el('b', {id: id, text: value}), label]);
  }

  function draw(id, spec, height) {
    var target = byId(id);
    if (!spec || !spec.x || !spec.x.length || !spec.series.length) {
      if (charts[id]) { charts[id] = null; }
      fill(id, empty('no data in this period'));
      target.dataset.series = '0';
      return;
    }
    spec.height = height || 220;
    if (charts[id]) { charts[id].update(spec); } else { charts[id] = LedgerCharts.time(target, spec); }
  }

  function status(text, bad) {
    var node = byId('status');
    node.textContent = text;
    node.className = bad ? 'error' : '';
  }

  function drawn() {
    body.dataset.updates = String(Number(body.dataset.updates || 0) + 1);
    body.dataset.ready = '1';
  }

  // --- filters ----------------------------------------------------------------------------
  function setOptions(select, values) {
    var chosen = params.get(select.id) || '';
    var wanted = [''].concat(values);
    if (chosen && wanted.indexOf(chosen) < 0) { wanted.push(chosen); }
    if (select.dataset.options === wanted.join(',')) { return; }
    while (select.firstChild) { select.removeChild(select.firstChild); }
    wanted.forEach(function (value) {
      select.appendChild(el('option', {value: value, text: value || 'all'}));
    });
    select.value = chosen;
    select.dataset.options = wanted.join(',');
  }

  function filterQuery() {
    var query = new URLSearchParams();
    ['region', 'platform'].forEach(function (name) { if (params.get(name)) { query.set(name, params.get(name)); } });
    var text = query.toString();
    return text ? '?' + text : '';
  }

  function watchFilters() {
    ['region', 'platform'].forEach(function (name) {
      var select = byId(name);
      if (!select) { return; }
      select.addEventListener('change', function () {
        if (select.value) { params.set(name, select.value); } else { params.delete(name); }
        history.replaceState(null, '', window.location.pathname + filterQuery());
        refresh();
      });
    });
  }

  // --- the overview -------------------------------------------------------------------------
  function overview() {
    return api('/ui/api/overview' + filterQuery()).then(function (answer) {
      if (answer.status !== 200) { return status(answer.document.message || 'HTTP ' + answer.status, true); }
      var doc = answer.document, live = doc.live, history = doc.history;
      var liveRegions = live.by_region.map(function (r) { return r.region; });
      setOptions(byId('region'), (history.regions || []).concat(liveRegions).filter(function (r, i, all) {
        return all.indexOf(r) === i;
      }).sort());
      setOptions(byId('platform'), PLATFORMS);

      byId('live-note').textContent = live.complete ? '' : '(some workers did not answer: partial)';
      fill('live-figures', [figure('live-total', 'live sessions', num(live.live, 0)),
                            figure('live-active', 'active', num(live.active, 0)),
                            figure('live-disconnected', 'disconnected', num(live.disconnected, 0))]);
      var counts = [{key: 'live', num: true}, {key: 'active', num: true}, {key: 'disconnected', num: true}];
      fill('live-regions', live.by_region.length ? table([{key: 'region'}].concat(counts), live.by_region)
                                                  : empty('no live session'));
      fill('live-platforms', live.by_platform.length ? table([{key: 'platform'}].concat(counts), live.by_platform)
                                                      : empty(''));
      if (history.error) {
        ['chart-region', 'chart-platform', 'chart-disruptions'].forEach(function (id) {
          charts[id] = null;
          fill(id, el('p', {className: 'error', text: history.message}));
        });
        fill('incidents', el('p', {className: 'error', text: history.message}));
        fill('anomalies', empty('history unavailable'));
      } else {
        draw('chart-region', history.concurrency_by_region);
        draw('chart-platform', history.concurrency_by_platform);
        draw('chart-disruptions', history.disruptions, 200);
        fill('incidents', history.incidents.length ? incidentList(history.incidents) : empty('no incident'));
        fill('anomalies', history.anomalies.length ? table([
          {key: 'occurred_at', label: 'at', format: function (r) { return day(r.occurred_at); }},
          {key: 'kind'}, {key: 'region'},
          {key: 'window_start', label: 'minute', format: function (r) { return hm(r.window_start); }},
          {key: 'observed', num: true}, {key: 'threshold', num: true}], history.anomalies)
          : empty('no anomaly in the last 24 hours'));
      }
      fill('slo', doc.slo_alerts.defined
        ? (doc.slo_alerts.alerts.length ? table([{key: 'slo'}, {key: 'window'}, {key: 'burn_rate', num: true}],
                                                doc.slo_alerts.alerts) : empty('no SLO is burning'))
        : empty('none defined'));
      fill('pipeline', pipeline(doc.pipeline, history));
      status('updated ' + hms(doc.now) + ' UTC' + (history.error ? ' · history unavailable' : '') +
             ' · every ' + EVERY_MS / 1000 + ' s', Boolean(history.error));
      drawn();
    });
  }

  function incidentList(incidents) {
    return table([
      {key: 'incident_id', label: 'incident', format: function (i) {
        return el('a', {href: '/ui/incidents/' + encodeURIComponent(i.incident_id), text: i.incident_id});
      }},
      {key: 'severity'},
      {key: 'status', format: function (i) {
        return el('span', {className: 'badge ' + (i.status === 'resolved' ? 'ok' : 'bad'), text: i.status});
      }},
      {key: 'regions', format: function (i) { return i.regions.join(', '); }},
      {key: 'milestones', format: function (i) { return milestoneLine(i); }},
      {key: 'title'}], incidents);
  }

  function milestoneLine(incident) {
    var opened = Date.parse(incident.opened_at);
    var parts = ['opened ' + day(incident.opened_at)];
    [['acknowledged_at', 'ack'], ['mitigated_at', 'mitigated'], ['resolved_at', 'resolved']].forEach(function (p) {
      if (incident[p[0]]) { parts.push(p[1] + ' +' + mins((Date.parse(incident[p[0]]) - opened) / 1000)); }
    });
    return parts.join(' · ');
  }

  function pipeline(p, history) {
    var state = el('span', {id: 'pipeline-status', className: 'badge ' + (p.status === 'ok' ? 'ok' : 'bad'),
                            text: p.status});
    var letters = Object.keys(p.dead_letters);
    var rows = [
      ['worker', p.worker_id + ' (partitions ' + (p.partitions.join(', ') || 'none') + ')'],
      ['status', state],
      ['consumer lag', num(p.lag_total, 0) + ' message(s)' + (p.lag_total ? ' — ' + Object.keys(p.lag).map(function (k) {
        return 'p' + k + ': ' + p.lag[k]; }).join(', ') : '')],
      ['dead letters', letters.length ? letters.map(function (r) { return r + ': ' + p.dead_letters[r]; }).join(', ')
                                      : 'none'],
      ['stall', p.stalled_s ? 'stalled for ' + p.stalled_s + ' s' : 'none'],
      ['timeouts appended', num(p.timeouts_appended, 0)],
      ['anomalies appended', num(p.anomalies_appended, 0)],
      ['history written up to', history.error ? 'unavailable' : day(history.history_end) + ' UTC']
    ].concat(p.warnings.map(function (w) { return ['warning', w]; }));
    return table([{key: '0', label: ''}, {key: '1', label: ''}], rows);
  }

  // --- an incident --------------------------------------------------------------------------
  function incident() {
    var id = decodeURIComponent(window.location.pathname.split('/').pop());
    return api('/ui/api/incidents/' + encodeURIComponent(id) + filterQuery()).then(function (answer) {
      var doc = answer.document;
      if (answer.status !== 200) { return status(doc.message || 'HTTP ' + answer.status, true); }
      var inc = doc.incident;
      document.title = inc.incident_id + ' — Session Ledger';
      byId('title').textContent = inc.incident_id + ' · ' + (inc.severity || '') + ' · ' + inc.status;
      setOptions(byId('region'), doc.regions);
      setOptions(byId('platform'), PLATFORMS);
      fill('narrative', doc.narrative.map(function (line) { return el('p', {text: line}); }));
      fill('milestones', doc.milestones.map(function (m) {
        return el('li', {className: m.phase}, [el('b', {text: m.phase}), el('br'),
          hms(m.at) + ' UTC', el('br'), el('span', {className: 'muted', text: '+' + mins(m.after_s)})]);
      }));
      draw('chart-replay', doc.replay);
      draw('chart-concurrency', doc.concurrency, 200);
      var t = doc.impact_totals;
      fill('impact-figures', [figure('impact-sessions', 'sessions disrupted', num(t.sessions_disrupted, 0)),
                              figure('impact-players', 'players', num(t.unique_players, 0)),
                              figure('impact-minutes', 'player-minutes lost', num(t.player_minutes_lost))]);
      fill('impact', doc.impact.length ? table([{key: 'region'}, {key: 'platform'},
        {key: 'cross_play', label: 'cross-play', format: function (r) { return r.cross_play ? 'yes' : 'no'; }},
        {key: 'sessions_disrupted', label: 'sessions', num: true}, {key: 'unique_players', label: 'players', num: true},
        {key: 'player_minutes_lost', label: 'player-minutes lost', num: true,
         format: function (r) { return num(r.player_minutes_lost); }}], doc.impact)
        : empty('no session disrupted'));
      fill('churn', doc.churn.length ? table([{key: 'cohort'}, {key: 'players', num: true},
        {key: 'churned', num: true}, {key: 'churn_rate', label: 'churn', num: true,
                                      format: function (r) { return pct(r.churn_rate); }}], doc.churn)
        : empty('no players in the incident\'s regions'));
      fill('deploys', doc.deploys.length ? table([{key: 'deploy_id', label: 'deploy'}, {key: 'service'},
        {key: 'version'}, {key: 'started_at', label: 'started', format: function (d) { return day(d.started_at); }},
        {key: 'outcome', format: function (d) { return d.outcome || 'not finished'; }},
        {key: 'verdict', format: function (d) { return d.verdict || 'no verdict'; }}], doc.deploys)
        : empty('no deploy in the two hours before'));
      fill('minutes', doc.minutes.length ? table([{key: 'minute', format: function (m) { return hm(m.minute); }},
        {key: 'starts', num: true}, {key: 'disconnects', num: true}, {key: 'reconnects', num: true},
        {key: 'timeouts', num: true}, {key: 'abnormal_ends', label: 'abnormal ends', num: true}], doc.minutes)
        : empty('no activity'));
      fill('affected', doc.sessions_affected.length ? [table([
        {key: 'session_id', label: 'session', format: function (s) {
          return el('a', {href: '/ui/sessions/' + encodeURIComponent(s.session_id), text: s.session_id});
        }}, {key: 'region'}, {key: 'platform'}, {key: 'disconnects', num: true}, {key: 'reconnects', num: true},
        {key: 'timeouts', num: true}, {key: 'abnormal_ends', label: 'abnormal ends', num: true},
        {key: 'first_disrupted_at', label: 'first disrupted', format: function (s) { return hms(s.first_disrupted_at); }}],
        doc.sessions_affected),
        el('p', {className: 'muted', text: doc.sessions_affected.length + ' of ' + doc.sessions_affected_count + ' shown'})]
        : empty('no session affected'));
      byId('commands').textContent = doc.commands.join('\n');
      status(day(doc.window.from) + ' to ' + day(doc.window.to) + ' UTC');
      drawn();
    });
  }

  // --- a session ----------------------------------------------------------------------------
  function session() {
    var id = decodeURIComponent(window.location.pathname.split('/').pop());
    return api('/ui/api/sessions/' + encodeURIComponent(id)).then(function (answer) {
      var doc = answer.document;
      if (answer.status !== 200) { return status(doc.message || 'HTTP ' + answer.status, true); }
      byId('title').textContent = 'session ' + doc.session_id;
      var s = doc.state;
      var facts = [['player', s.player_id], ['status', s.status], ['end reason', s.end_reason],
                   ['region', s.region], ['platform', s.platform], ['cross-play', s.cross_play ? 'yes' : 'no'],
                   ['server', s.server_id], ['started', day(s.started_at)], ['ended', day(s.ended_at)],
                   ['disconnects', s.disconnect_count], ['reconnects', s.reconnect_count],
                   ['anomalies', s.anomaly_count], ['derived events', doc.derived]];
      fill('state', table([{key: '0', label: ''}, {key: '1', label: ''}], facts));
      fill('timeline', table([
        {key: 'occurred_at', label: 'at (UTC)', format: function (l) { return day(l.occurred_at) + hms(l.occurred_at).slice(5); }},
        {key: 'seq', num: true},
        {key: 'event_type', label: 'event', format: function (l) {
          return el('span', {}, [l.event_type].concat(l.derived ? [el('span', {className: 'badge', text: 'derived'})] : []));
        }},
        {key: 'outcome'}, {key: 'status', label: 'status after'}, {key: 'server_id', label: 'server'},
        {key: 'anomalies', format: function (l) { return l.anomalies.join(', '); }},
        {key: 'end_reason', label: 'end reason'}], doc.timeline,
        function (l) { return l.derived ? 'derived' : ''; }));
      status(doc.timeline.length + ' event(s) from the history');
      drawn();
    });
  }

  // --- wiring -------------------------------------------------------------------------------
  var pages = {overview: overview, incident: incident, session: session};
  var busy = false;

  function refresh() {
    if (busy) { return; }
    busy = true;
    pages[body.dataset.page]().catch(function (error) {
      status('could not read the worker: ' + error, true);
    }).then(function () { busy = false; });
  }

  watchFilters();
  refresh();
  if (body.dataset.page === 'overview') { setInterval(refresh, EVERY_MS); }
})();
