"use strict";(self.rspackChunktinycode_jupyter=self.rspackChunktinycode_jupyter||[]).push([[266],{646(e,r,o){var t=o(601),n=o.n(t),a=o(314),i=(o.n(a))()(n());i.push([e.id,`/* The sidebar chat (src/sidebar.ts, src/notebookChat.ts, src/transcript.ts). */

.jp-tinycode-sidebar {
  background: var(--jp-layout-color1);
}

/* On the sidebar's children: the sidebar's layout sets its own min-width from theirs. */
.jp-tinycode-sidebar > .lm-Widget {
  min-width: var(--jp-sidebar-min-width, 250px);
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
  padding: 6px 10px;
  font-weight: 600;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.jp-tinycode-transcript {
  flex: 1 1 auto;
  overflow-y: auto;
  padding: 6px 10px;
}

.jp-tinycode-transcript > * {
  margin: 6px 0;
}

.jp-tinycode-prompt {
  padding: 6px 8px;
  border-radius: 4px;
  background: var(--jp-layout-color2);
  white-space: pre-wrap;
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
  border-radius: 4px;
  overflow: hidden;
}

.jp-tinycode-tool-name {
  padding: 2px 8px;
  font-weight: 600;
  background: var(--jp-layout-color2);
}

.jp-tinycode-tool pre {
  margin: 0;
  padding: 4px 8px;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  white-space: pre-wrap;
  word-break: break-word;
  max-height: 20em;
  overflow: auto;
}

.jp-tinycode-code {
  background: var(--jp-cell-editor-background);
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
`,""]),o.d(r,{},{A:i})},314(e){e.exports=function(e){var r=[];return r.toString=function(){return this.map(function(r){var o="",t=void 0!==r[5];return r[4]&&(o+="@supports (".concat(r[4],") {")),r[2]&&(o+="@media ".concat(r[2]," {")),t&&(o+="@layer".concat(r[5].length>0?" ".concat(r[5]):""," {")),o+=e(r),t&&(o+="}"),r[2]&&(o+="}"),r[4]&&(o+="}"),o}).join("")},r.i=function(e,o,t,n,a){"string"==typeof e&&(e=[[null,e,void 0]]);var i={};if(t)for(var p=0;p<this.length;p++){var d=this[p][0];null!=d&&(i[d]=!0)}for(var c=0;c<e.length;c++){var s=[].concat(e[c]);t&&i[s[0]]||(void 0!==a&&(void 0===s[5]||(s[1]="@layer".concat(s[5].length>0?" ".concat(s[5]):""," {").concat(s[1],"}")),s[5]=a),o&&(s[2]&&(s[1]="@media ".concat(s[2]," {").concat(s[1],"}")),s[2]=o),n&&(s[4]?(s[1]="@supports (".concat(s[4],") {").concat(s[1],"}"),s[4]=n):s[4]="".concat(n)),r.push(s))}},r}},601(e){e.exports=function(e){return e[1]}},665(e,r,o){o.r(r);var t=o(72),n=o.n(t),a=o(825),i=o.n(a),p=o(659),d=o.n(p),c=o(56),s=o.n(c),l=o(540),u=o.n(l),f=o(113),v=o.n(f),y=o(646),h={};h.styleTagTransform=v(),h.setAttributes=s(),h.insert=d().bind(null,"head"),h.domAPI=i(),h.insertStyleElement=u(),n()(y.A,h);let j=y.A&&y.A.locals?y.A.locals:void 0;o.d(r,{},{default:j})},72(e){var r=[];function o(e){for(var o=-1,t=0;t<r.length;t++)if(r[t].identifier===e){o=t;break}return o}function t(e,t){for(var n={},a=[],i=0;i<e.length;i++){var p=e[i],d=t.base?p[0]+t.base:p[0],c=n[d]||0,s="".concat(d," ").concat(c);n[d]=c+1;var l=o(s),u={css:p[1],media:p[2],sourceMap:p[3],supports:p[4],layer:p[5]};if(-1!==l)r[l].references++,r[l].updater(u);else{var f=function(e,r){var o=r.domAPI(r);return o.update(e),function(r){r?(r.css!==e.css||r.media!==e.media||r.sourceMap!==e.sourceMap||r.supports!==e.supports||r.layer!==e.layer)&&o.update(e=r):o.remove()}}(u,t);t.byIndex=i,r.splice(i,0,{identifier:s,updater:f,references:1})}a.push(s)}return a}e.exports=function(e,n){var a=t(e=e||[],n=n||{});return function(e){e=e||[];for(var i=0;i<a.length;i++){var p=o(a[i]);r[p].references--}for(var d=t(e,n),c=0;c<a.length;c++){var s=o(a[c]);0===r[s].references&&(r[s].updater(),r.splice(s,1))}a=d}}},659(e){var r={};e.exports=function(e,o){var t=function(e){if(void 0===r[e]){var o=document.querySelector(e);if(window.HTMLIFrameElement&&o instanceof window.HTMLIFrameElement)try{o=o.contentDocument.head}catch(e){o=null}r[e]=o}return r[e]}(e);if(!t)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");t.appendChild(o)}},540(e){e.exports=function(e){var r=document.createElement("style");return e.setAttributes(r,e.attributes),e.insert(r,e.options),r}},56(e,r,o){e.exports=function(e){var r=o.nc;r&&e.setAttribute("nonce",r)}},825(e){e.exports=function(e){if("u"<typeof document)return{update:function(){},remove:function(){}};var r=e.insertStyleElement(e);return{update:function(o){var t,n,a;t="",o.supports&&(t+="@supports (".concat(o.supports,") {")),o.media&&(t+="@media ".concat(o.media," {")),(n=void 0!==o.layer)&&(t+="@layer".concat(o.layer.length>0?" ".concat(o.layer):""," {")),t+=o.css,n&&(t+="}"),o.media&&(t+="}"),o.supports&&(t+="}"),(a=o.sourceMap)&&"u">typeof btoa&&(t+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(a))))," */")),e.styleTagTransform(t,r,e.options)},remove:function(){var e;null===(e=r).parentNode||e.parentNode.removeChild(e)}}}},113(e){e.exports=function(e,r){if(r.styleSheet)r.styleSheet.cssText=e;else{for(;r.firstChild;)r.removeChild(r.firstChild);r.appendChild(document.createTextNode(e))}}}}]);