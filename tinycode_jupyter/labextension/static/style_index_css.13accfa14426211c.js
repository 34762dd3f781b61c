"use strict";(self.rspackChunktinycode_jupyter=self.rspackChunktinycode_jupyter||[]).push([["style_index_css"],{"./node_modules/css-loader/dist/cjs.js!./style/cellbars.css"(e,o,r){var t=r("./node_modules/css-loader/dist/runtime/noSourceMaps.js"),i=r.n(t),n=r("./node_modules/css-loader/dist/runtime/api.js"),a=(r.n(n))()(i());a.push([e.id,`/* Bars on cells (src/cellBars.ts): Fix on errors, Undo on agent cells, provenance badges. */

.jp-tinycode-cellbar {
  display: flex;
  align-items: flex-start;
  gap: 8px;
  padding: 2px 0 4px calc(var(--jp-cell-prompt-width, 64px) + var(--jp-cell-padding, 5px));
  font-size: var(--jp-ui-font-size1);
  color: var(--jp-ui-font-color2);
}

.jp-tinycode-cellbar-button.jp-Button {
  flex: 0 0 auto;
  white-space: nowrap;
  height: 22px;
  padding: 0 8px;
  font-size: var(--jp-ui-font-size1);
  border: var(--jp-border-width) solid var(--jp-border-color1);
  border-radius: 3px;
}

.jp-tinycode-undo-report {
  margin: 0;
  white-space: pre-wrap;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  color: var(--jp-ui-font-color1);
}

.jp-tinycode-undo-report:empty {
  display: none;
}

/* Provenance badges at the top-right of agent cells, on a strip of their own above the input (clear of the code,
   of the cell toolbar inside the input area and of bars below the cell), and their popover (src/badges.ts). */

.jp-Cell:has(> .jp-tinycode-badge) {
  position: relative;
  padding-top: 17px;
}

.jp-tinycode-cellbar.jp-tinycode-badge {
  position: absolute;
  top: 1px;
  right: 8px;
  z-index: 3;
  display: block;
  padding: 0;
}

.jp-tinycode-badge-button {
  max-width: 320px;
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
  padding: 0 6px;
  line-height: 13px;
  font-family: var(--jp-ui-font-family);
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color2);
  background: var(--jp-layout-color2);
  border: var(--jp-border-width) solid var(--jp-border-color2);
  border-radius: 8px;
  cursor: pointer;
  opacity: 0.85;
}

.jp-tinycode-badge-button:hover {
  opacity: 1;
  color: var(--jp-ui-font-color1);
  border-color: var(--jp-brand-color1);
}

.jp-tinycode-badge-edited {
  border-style: dashed;
}

.jp-tinycode-provenance {
  position: fixed;
  z-index: 10000;
  width: 420px;
  max-width: calc(100vw - 16px);
  max-height: 60vh;
  overflow: auto;
  padding: 8px 10px;
  font-family: var(--jp-ui-font-family);
  font-size: var(--jp-ui-font-size1);
  color: var(--jp-ui-font-color1);
  background: var(--jp-layout-color1);
  border: var(--jp-border-width) solid var(--jp-border-color1);
  border-radius: 4px;
  box-shadow: var(--jp-elevation-z4);
}

.jp-tinycode-provenance-title {
  font-weight: 600;
  margin-bottom: 4px;
}

.jp-tinycode-provenance-facts {
  display: grid;
  grid-template-columns: auto 1fr;
  gap: 2px 8px;
  margin: 0 0 6px;
}

.jp-tinycode-provenance-facts dt {
  color: var(--jp-ui-font-color2);
}

.jp-tinycode-provenance-facts dd {
  margin: 0;
  font-family: var(--jp-code-font-family);
  word-break: break-all;
}

.jp-tinycode-provenance-label {
  color: var(--jp-ui-font-color2);
  margin-top: 4px;
}

.jp-tinycode-provenance-text {
  margin: 2px 0 6px;
  padding: 4px 6px;
  max-height: 200px;
  overflow: auto;
  white-space: pre-wrap;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  background: var(--jp-layout-color2);
  border-radius: 3px;
}

.jp-tinycode-provenance-revert.jp-Button {
  margin-top: 4px;
}

/* The sidebar's "Undo this run" row under a run (src/transcript.ts). */
.jp-tinycode-undo-row {
  display: flex;
  align-items: flex-start;
  gap: 8px;
  padding: 2px 0 6px;
}

.jp-tinycode-undo-row > .jp-tinycode-undo {
  flex: 0 0 auto;
  white-space: nowrap;
}

.jp-tinycode-undo-row > .jp-tinycode-undo-report {
  flex: 1 1 auto;
  min-width: 0;
}
`,""]),r.d(o,{},{A:a})},"./node_modules/css-loader/dist/cjs.js!./style/index.css"(e,o,r){var t=r("./node_modules/css-loader/dist/runtime/noSourceMaps.js"),i=r.n(t),n=r("./node_modules/css-loader/dist/runtime/api.js"),a=r.n(n),d=r("./node_modules/css-loader/dist/cjs.js!./style/cellbars.css"),p=r("./node_modules/css-loader/dist/cjs.js!./style/review.css"),l=a()(i());l.i(d.A),l.i(p.A),l.push([e.id,`/* The sidebar chat (src/sidebar.ts, src/notebookChat.ts, src/transcript.ts). */

.jp-tinycode-sidebar {
  background: var(--jp-layout-color1);
}

/* On the sidebar's children: the sidebar's layout sets its own min-width from theirs. In JupyterLab
   that widens the right area enough for code and tables; Notebook 7's side panel keeps its width. */
.jp-tinycode-sidebar > .lm-Widget {
  min-width: var(--jp-sidebar-min-width, 250px);
}

.jp-LabShell .jp-tinycode-sidebar > .lm-Widget {
  min-width: 380px;
}

.jp-tinycode-placeholder {
  padding: 16px;
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size1);
}

.jp-tinycode-chat {
  display: flex;
  flex-direction: column;
  font-size: var(--jp-ui-font-size1);
  color: var(--jp-ui-font-color1);
}

.jp-tinycode-heading {
  display: flex;
  align-items: center;
  gap: 8px;
  padding: 4px 8px 4px 12px;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
}

.jp-tinycode-title {
  flex: 1 1 auto;
  font-weight: 600;
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.jp-tinycode-transcript {
  flex: 1 1 auto;
  overflow-y: auto;
  padding: 8px 12px;
  line-height: 1.45;
}

.jp-tinycode-transcript > * {
  margin: 0 0 10px;
}

.jp-tinycode-prompt {
  margin-left: 24px !important;
  padding: 8px 10px;
  border-radius: 8px;
  background: var(--jp-layout-color2);
}

.jp-tinycode-prompt-text {
  white-space: pre-wrap;
  overflow-wrap: anywhere;
}

.jp-tinycode-cell-link {
  margin: 4px 0 0;
  padding: 0;
  border: none;
  background: none;
  color: var(--jp-content-link-color);
  font-size: var(--jp-ui-font-size0);
  cursor: pointer;
}

.jp-tinycode-cell-link:hover:not(:disabled) {
  text-decoration: underline;
}

.jp-tinycode-cell-link:disabled {
  color: var(--jp-ui-font-color2);
  cursor: default;
}

.jp-tinycode-prompt > .jp-tinycode-cell-link,
.jp-tinycode-entry > .jp-tinycode-cell-link {
  display: block;
}

.jp-tinycode-revealed {
  outline: 2px solid var(--jp-brand-color1);
  outline-offset: -2px;
}

.jp-tinycode-text.jp-RenderedMarkdown {
  padding: 0;
}

.jp-tinycode-answer {
  border-left: 3px solid var(--jp-brand-color1);
  padding-left: 8px !important;
}

.jp-tinycode-tool {
  border: var(--jp-border-width) solid var(--jp-border-color2);
  border-radius: 6px;
  overflow: hidden;
  background: var(--jp-layout-color0);
}

.jp-tinycode-tool-header {
  display: flex;
  align-items: baseline;
  gap: 8px;
  padding: 3px 8px;
  background: var(--jp-layout-color2);
  font-size: var(--jp-ui-font-size0);
}

.jp-tinycode-tool-name {
  font-family: var(--jp-code-font-family);
  font-weight: 600;
}

.jp-tinycode-tool-state {
  flex: 1 1 auto;
  color: var(--jp-success-color1);
}

.jp-tinycode-tool-state.jp-mod-error {
  color: var(--jp-error-color1);
}

.jp-tinycode-tool-header > .jp-tinycode-cell-link {
  margin: 0;
}

.jp-tinycode-tool pre {
  margin: 0;
  padding: 6px 10px;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  line-height: var(--jp-code-line-height);
  white-space: pre;
  max-height: 24em;
  overflow: auto;
}

.jp-tinycode-code {
  background: var(--jp-cell-editor-background);
  color: var(--jp-content-font-color1);
}

.jp-tinycode-output {
  border-top: var(--jp-border-width) solid var(--jp-border-color2);
}

.jp-tinycode-output.jp-mod-error {
  background: var(--jp-rendermime-error-background);
}

.jp-tinycode-image {
  display: block;
  max-width: 100%;
  margin: 0 auto;
  padding: 6px;
  box-sizing: border-box;
  background: white;
}

.jp-tinycode-table {
  border-top: var(--jp-border-width) solid var(--jp-border-color2);
  padding: 6px 10px;
  overflow-x: auto;
}

.jp-tinycode-table.jp-RenderedHTMLCommon table {
  font-size: var(--jp-ui-font-size0);
  margin: 0;
}

.jp-tinycode-usage,
.jp-tinycode-note {
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
}

.jp-tinycode-error {
  color: var(--jp-error-color1);
  white-space: pre-wrap;
}

.jp-tinycode-form {
  padding: 6px 10px 10px;
  border-top: var(--jp-border-width) solid var(--jp-border-color2);
}

.jp-tinycode-input {
  box-sizing: border-box;
  width: 100%;
  resize: vertical;
  font-family: var(--jp-ui-font-family);
  font-size: var(--jp-ui-font-size1);
  color: var(--jp-ui-font-color1);
  background: var(--jp-input-background);
  border: var(--jp-border-width) solid var(--jp-border-color1);
  padding: 4px 6px;
}

.jp-tinycode-buttons {
  display: flex;
  align-items: center;
  gap: 6px;
  margin-top: 6px;
}

.jp-tinycode-model {
  flex: 0 1 auto;
  min-width: 0;
  max-width: 55%;
  height: 26px;
  font-size: var(--jp-ui-font-size1);
  color: var(--jp-ui-font-color1);
  background: var(--jp-input-background);
  border: var(--jp-border-width) solid var(--jp-border-color1);
  border-radius: 2px;
}

.jp-tinycode-buttons button:disabled {
  opacity: 0.45;
  cursor: default;
}

.jp-tinycode-status {
  flex: 1 1 auto;
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}
`,""]),r.d(o,{},{A:l})},"./node_modules/css-loader/dist/cjs.js!./style/review.css"(e,o,r){var t=r("./node_modules/css-loader/dist/runtime/noSourceMaps.js"),i=r.n(t),n=r("./node_modules/css-loader/dist/runtime/api.js"),a=(r.n(n))()(i());a.push([e.id,`/* The notebook owner (src/notebookOwner.ts): the review of a change to a user's cell (src/review.ts)
   and the bar where the agent deleted a cell (src/deletedCells.ts). */

.jp-tinycode-review.jp-tinycode-cellbar {
  display: block;
  padding-top: 6px;
}

.jp-tinycode-review-box {
  border: var(--jp-border-width) solid var(--jp-warn-color1);
  border-left-width: 4px;
  border-radius: 3px;
  background: var(--jp-layout-color1);
  padding: 6px 8px;
}

.jp-tinycode-review-title {
  font-weight: 600;
  color: var(--jp-ui-font-color0);
  margin-bottom: 4px;
}

.jp-tinycode-review-waiting {
  font-weight: normal;
  color: var(--jp-ui-font-color2);
}

.jp-tinycode-review-diff {
  margin: 0 0 6px;
  max-height: 320px;
  overflow: auto;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  line-height: var(--jp-code-line-height);
  color: var(--jp-content-font-color1);
  background: var(--jp-cell-editor-background);
  border: var(--jp-border-width) solid var(--jp-cell-editor-border-color);
  padding: 2px 0;
}

.jp-tinycode-review-diff > div {
  padding: 0 6px;
  white-space: pre;
}

.jp-tinycode-diff-removed {
  background: rgba(215, 58, 73, 0.15);
  color: var(--jp-error-color0, #a30000);
}

.jp-tinycode-diff-added {
  background: rgba(40, 167, 69, 0.15);
  color: var(--jp-success-color0, #1a7f37);
}

.jp-tinycode-diff-gap {
  color: var(--jp-ui-font-color2);
  font-style: italic;
}

.jp-tinycode-review-actions {
  display: flex;
  gap: 8px;
  align-items: center;
}

.jp-tinycode-review-reason {
  flex: 1 1 auto;
  min-width: 120px;
  height: 22px;
  padding: 0 6px;
  font-size: var(--jp-ui-font-size1);
  color: var(--jp-ui-font-color0);
  background: var(--jp-input-background, var(--jp-layout-color1));
  border: var(--jp-border-width) solid var(--jp-border-color1);
  border-radius: 3px;
}

.jp-tinycode-review-accept.jp-Button {
  background: var(--jp-accept-color-normal, var(--jp-brand-color1));
  color: var(--jp-ui-inverse-font-color0);
  border-color: transparent;
}

.jp-tinycode-review-reject.jp-Button {
  color: var(--jp-warn-color0);
}

.jp-tinycode-deleted-bar.jp-tinycode-cellbar {
  display: block;
}

.jp-tinycode-deleted-row {
  display: flex;
  align-items: center;
  gap: 8px;
  margin: 2px 0;
  padding: 2px 6px;
  border: var(--jp-border-width) dashed var(--jp-border-color1);
  border-radius: 3px;
  background: var(--jp-layout-color2);
}

.jp-tinycode-deleted-label {
  flex: 0 0 auto;
  font-style: italic;
}

.jp-tinycode-deleted-source {
  flex: 1 1 auto;
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
  font-family: var(--jp-code-font-family);
  color: var(--jp-ui-font-color2);
}
`,""]),r.d(o,{},{A:a})},"./node_modules/css-loader/dist/runtime/api.js"(e){e.exports=function(e){var o=[];return o.toString=function(){return this.map(function(o){var r="",t=void 0!==o[5];return o[4]&&(r+="@supports (".concat(o[4],") {")),o[2]&&(r+="@media ".concat(o[2]," {")),t&&(r+="@layer".concat(o[5].length>0?" ".concat(o[5]):""," {")),r+=e(o),t&&(r+="}"),o[2]&&(r+="}"),o[4]&&(r+="}"),r}).join("")},o.i=function(e,r,t,i,n){"string"==typeof e&&(e=[[null,e,void 0]]);var a={};if(t)for(var d=0;d<this.length;d++){var p=this[d][0];null!=p&&(a[p]=!0)}for(var l=0;l<e.length;l++){var s=[].concat(e[l]);t&&a[s[0]]||(void 0!==n&&(void 0===s[5]||(s[1]="@layer".concat(s[5].length>0?" ".concat(s[5]):""," {").concat(s[1],"}")),s[5]=n),r&&(s[2]&&(s[1]="@media ".concat(s[2]," {").concat(s[1],"}")),s[2]=r),i&&(s[4]?(s[1]="@supports (".concat(s[4],") {").concat(s[1],"}"),s[4]=i):s[4]="".concat(i)),o.push(s))}},o}},"./node_modules/css-loader/dist/runtime/noSourceMaps.js"(e){e.exports=function(e){return e[1]}},"./style/index.css"(e,o,r){r.r(o);var t=r("./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"),i=r.n(t),n=r("./node_modules/style-loader/dist/runtime/styleDomAPI.js"),a=r.n(n),d=r("./node_modules/style-loader/dist/runtime/insertBySelector.js"),p=r.n(d),l=r("./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"),s=r.n(l),c=r("./node_modules/style-loader/dist/runtime/insertStyleElement.js"),u=r.n(c),j=r("./node_modules/style-loader/dist/runtime/styleTagTransform.js"),f=r.n(j),v=r("./node_modules/css-loader/dist/cjs.js!./style/index.css"),y={};y.styleTagTransform=f(),y.setAttributes=s(),y.insert=p().bind(null,"head"),y.domAPI=a(),y.insertStyleElement=u(),i()(v.A,y);let b=v.A&&v.A.locals?v.A.locals:void 0;r.d(o,{},{default:b})},"./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"(e){var o=[];function r(e){for(var r=-1,t=0;t<o.length;t++)if(o[t].identifier===e){r=t;break}return r}function t(e,t){for(var i={},n=[],a=0;a<e.length;a++){var d=e[a],p=t.base?d[0]+t.base:d[0],l=i[p]||0,s="".concat(p," ").concat(l);i[p]=l+1;var c=r(s),u={css:d[1],media:d[2],sourceMap:d[3],supports:d[4],layer:d[5]};if(-1!==c)o[c].references++,o[c].updater(u);else{var j=function(e,o){var r=o.domAPI(o);return r.update(e),function(o){o?(o.css!==e.css||o.media!==e.media||o.sourceMap!==e.sourceMap||o.supports!==e.supports||o.layer!==e.layer)&&r.update(e=o):r.remove()}}(u,t);t.byIndex=a,o.splice(a,0,{identifier:s,updater:j,references:1})}n.push(s)}return n}e.exports=function(e,i){var n=t(e=e||[],i=i||{});return function(e){e=e||[];for(var a=0;a<n.length;a++){var d=r(n[a]);o[d].references--}for(var p=t(e,i),l=0;l<n.length;l++){var s=r(n[l]);0===o[s].references&&(o[s].updater(),o.splice(s,1))}n=p}}},"./node_modules/style-loader/dist/runtime/insertBySelector.js"(e){var o={};e.exports=function(e,r){var t=function(e){if(void 0===o[e]){var r=document.querySelector(e);if(window.HTMLIFrameElement&&r instanceof window.HTMLIFrameElement)try{r=r.contentDocument.head}catch(e){r=null}o[e]=r}return o[e]}(e);if(!t)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");t.appendChild(r)}},"./node_modules/style-loader/dist/runtime/insertStyleElement.js"(e){e.exports=function(e){var o=document.createElement("style");return e.setAttributes(o,e.attributes),e.insert(o,e.options),o}},"./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"(e,o,r){e.exports=function(e){var o=r.nc;o&&e.setAttribute("nonce",o)}},"./node_modules/style-loader/dist/runtime/styleDomAPI.js"(e){e.exports=function(e){if("u"<typeof document)return{update:function(){},remove:function(){}};var o=e.insertStyleElement(e);return{update:function(r){var t,i,n;t="",r.supports&&(t+="@supports (".concat(r.supports,") {")),r.media&&(t+="@media ".concat(r.media," {")),(i=void 0!==r.layer)&&(t+="@layer".concat(r.layer.length>0?" ".concat(r.layer):""," {")),t+=r.css,i&&(t+="}"),r.media&&(t+="}"),r.supports&&(t+="}"),(n=r.sourceMap)&&"u">typeof btoa&&(t+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(n))))," */")),e.styleTagTransform(t,o,e.options)},remove:function(){var e;null===(e=o).parentNode||e.parentNode.removeChild(e)}}}},"./node_modules/style-loader/dist/runtime/styleTagTransform.js"(e){e.exports=function(e,o){if(o.styleSheet)o.styleSheet.cssText=e;else{for(;o.firstChild;)o.removeChild(o.firstChild);o.appendChild(document.createTextNode(e))}}}}]);