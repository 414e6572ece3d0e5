// One conversation in the drawer as one element (components/conversation_entry.py): its link, Rename and Delete.
// A press of a button comes back as its own event ("rename", "delete"). The markup and classes are those of the
// row, link and two buttons it replaces; the link's address gets NiceGUI's path prefix as ui.link's does.
export default {
  template: `
    <div class="nicegui-row w-full items-center no-wrap gap-0 rounded" :class="{ 'nc-current': current }">
      <a :href="prefixed" target="_self" :aria-current="current ? 'page' : undefined"
         class="nicegui-link grow truncate px-2 py-1 text-sm no-underline text-inherit">{{ text }}</a>
      <q-btn flat dense round size="sm" color="primary" icon="edit" aria-label="Rename" @click="$emit('rename')" />
      <q-btn flat dense round size="sm" color="primary" icon="delete" aria-label="Delete" @click="$emit('delete')" />
    </div>`,
  props: {
    text: String,
    href: String,
    current: Boolean,
  },
  data() {
    return { prefixed: this.href };
  },
  mounted() {
    setTimeout(this.prefix, 0); // window.path_prefix is set in NiceGUI's app.mounted(), after this
  },
  updated() {
    this.prefix();
  },
  methods: {
    prefix() {
      this.prefixed = (this.href.startsWith("/") ? window.path_prefix ?? "" : "") + this.href;
    },
  },
};
